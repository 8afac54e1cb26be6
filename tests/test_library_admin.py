"""Admin of the quick replies and materials: a store's rows are invisible to other stores' managers, HQ's are
read-only to managers, a manager cannot write for HQ, unknown variables are refused, usage is counted."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from associates.models import Store
from demo.library import LIBRARY_MANAGER_PERMISSIONS, picture_png
from library.models import Material, QuickReply, ReplyGroup, SentMessage
from tests.factories import AssociateFactory, CustomerFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    store_a, store_b = StoreFactory(name="上海静安店"), StoreFactory(name="北京三里屯店")
    linyu = AssociateFactory(store=store_a, name="林雨")
    hq = QuickReply.objects.create(title="总部问候", text="{客户称呼}您好")
    mine = QuickReply.objects.create(store=store_a, title="静安到店礼", text="周末到店")
    theirs = QuickReply.objects.create(store=store_b, title="三里屯专属", text="北京的话术")
    personal = QuickReply.objects.create(owner=linyu, store=store_a, title="林雨自己的", text="私人话术")
    material_b = Material.objects.create(kind="link", title="北京素材", link_url="https://e.example/b", store=store_b)
    customer = CustomerFactory(name="陈静", primary_store=store_a)
    for n in range(3):
        SentMessage.objects.create(
            request_id=f"r{n}",
            associate=linyu,
            store=store_a,
            customer=customer,
            kind="reply",
            reply=mine,
            title=mine.title,
            msgtype="text",
            message={},
        )
    manager = UserFactory(username="manager_a")
    manager.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="library", codename__in=[p.split(".")[1] for p in LIBRARY_MANAGER_PERMISSIONS]
        )
    )
    store_a.managers.add(manager)
    root = UserFactory(username="root", is_superuser=True)
    return locals()


def test_a_manager_lists_hq_and_their_stores_replies_with_their_uses_but_not_other_stores_or_personal(client, shop):
    client.force_login(shop["manager"])

    response = client.get("/admin/library/quickreply/")

    html = response.content.decode()
    assert response.status_code == 200
    assert [r.title for r in response.context["cl"].queryset.order_by("pk")] == ["总部问候", "静安到店礼"]
    assert "三里屯专属" not in html and "林雨自己的" not in html
    assert [r.use_count for r in response.context["cl"].queryset.order_by("pk")] == [0, 3]
    assert client.get(f"/admin/library/quickreply/{shop['theirs'].pk}/change/").status_code == 404
    assert client.get(f"/admin/library/material/{shop['material_b'].pk}/change/").status_code == 404
    assert "北京素材" not in client.get("/admin/library/material/").content.decode()


def test_a_manager_cannot_change_or_delete_hq_replies(client, shop):
    client.force_login(shop["manager"])
    hq = shop["hq"]

    page = client.get(f"/admin/library/quickreply/{hq.pk}/change/")
    post = client.post(f"/admin/library/quickreply/{hq.pk}/change/", {"title": "改掉", "text": "改掉", "position": 1})
    delete = client.post(f"/admin/library/quickreply/{hq.pk}/delete/", {"post": "yes"})

    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert (post.status_code, delete.status_code) == (403, 403)
    hq.refresh_from_db()
    assert hq.title == "总部问候"


def test_a_manager_writes_for_their_store_only_and_unknown_variables_are_refused(client, shop):
    client.force_login(shop["manager"])
    store_a, store_b = shop["store_a"], shop["store_b"]
    form = {"title": "新话术", "text": "{导购}在{门店}等您", "position": 1, "is_active": "on"}

    for_hq = client.post("/admin/library/quickreply/add/", {**form, "store": ""})
    for_b = client.post("/admin/library/quickreply/add/", {**form, "store": store_b.pk})
    unknown = client.post("/admin/library/quickreply/add/", {**form, "store": store_a.pk, "text": "{会员生日}快乐"})
    made = client.post("/admin/library/quickreply/add/", {**form, "store": store_a.pk})

    assert [r.status_code for r in (for_hq, for_b, unknown)] == [200, 200, 200]
    assert "store" in for_hq.context["adminform"].form.errors
    assert "store" in for_b.context["adminform"].form.errors
    assert "未知变量 {会员生日}" in str(unknown.context["adminform"].form.errors["text"])
    assert made.status_code == 302
    assert list(QuickReply.objects.filter(title="新话术").values_list("store", flat=True)) == [store_a.pk]


def test_hq_uploads_an_image_material_for_every_store(client, shop):
    client.force_login(shop["root"])
    png = SimpleUploadedFile("poster.png", picture_png(), content_type="image/png")

    made = client.post(
        "/admin/library/material/add/",
        {"kind": "image", "title": "海报", "upload": png, "position": 1, "is_active": "on", "store": ""},
    )
    not_image = client.post(
        "/admin/library/material/add/",
        {
            "kind": "image",
            "title": "坏图",
            "upload": SimpleUploadedFile("x.png", b"not a picture", content_type="image/png"),
            "position": 1,
        },
    )

    assert made.status_code == 302, made.context and made.context["adminform"].form.errors
    material = Material.objects.get(title="海报")
    assert (material.store, material.filename, material.content_type) == (None, "poster.png", "image/png")
    assert bytes(material.content) == picture_png()
    assert "图片须为 JPG 或 PNG" in str(not_image.context["adminform"].form.errors)
    assert Store.objects.count() == 2


def test_send_records_are_scoped_to_the_managers_stores(client, shop):
    other = AssociateFactory(store=shop["store_b"], name="北京导购")
    SentMessage.objects.create(
        request_id="b1",
        associate=other,
        store=shop["store_b"],
        customer=CustomerFactory(name="北京客户", primary_store=shop["store_b"]),
        kind="material",
        material=shop["material_b"],
        title="北京素材",
        msgtype="news",
        message={},
    )
    client.force_login(shop["manager"])

    response = client.get("/admin/library/sentmessage/")

    assert response.status_code == 200
    assert response.context["cl"].queryset.count() == 3
    assert "北京导购" not in response.content.decode()
    assert ReplyGroup.objects.count() == 0
