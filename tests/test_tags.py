"""Corp tags both ways, Omni against the WeCom emulator over HTTP (live server: the emulator's callbacks reach Omni).

WeCom → Omni: the nightly sync's tags page and the change_external_tag callback (a tag deleted in WeCom disappears
from Omni, with the customers' tags); a tag another associate gave the customer in WeCom shows up after the
edit_external_contact callback or the contacts sync. Omni → WeCom: admin's creations, renames and deletions
(add/edit/del_corp_tag, local copy at once); the sidebar's picker adds and removes with mark_tag."""

import pytest
from django.core.management import call_command

from clientbook.models import FollowRelation
from clientbook.tags import customer_tags_mark, tag_picker_get
from customers.models import CustomerTag, Tag, TagGroup
from customers.tags import tag_create, tag_delete, tag_edit, tag_group_create, tag_group_delete, tag_group_edit
from omni.errors import ApplicationError
from tests import test_wecom_integration as integration
from tests.factories import StoreFactory
from wecom.models import CallbackEvent

emulator, shop, _wait = integration.emulator, integration.shop, integration._wait


def _wecom_library(emulator) -> dict:
    return {
        g["group_name"]: sorted(t["name"] for t in g["tag"] if not t["deleted"])
        for g in emulator.control("GET", "tags")["tag_groups"]
        if not g["deleted"]
    }


def _omni_library() -> dict:
    return {g.name: sorted(g.tags.values_list("name", flat=True)) for g in TagGroup.objects.all()}


def _friend(emulator, shop, name="陈静") -> tuple[str, FollowRelation]:
    emulator.control("POST", "associates", {"userid": shop.wecom_userid, "name": shop.name, "store": "上海静安店"})
    person = emulator.control("POST", "customers", {"name": name, "gender": 2})
    emulator.control("POST", "contacts/add", {"external_userid": person["external_userid"], "userid": "linyu"})
    assert _wait(lambda: FollowRelation.objects.filter(external_userid=person["external_userid"]).exists())
    return person["external_userid"], FollowRelation.objects.get(external_userid=person["external_userid"])


def _events_done(kind: str, count: int) -> bool:
    return CallbackEvent.objects.filter(event=kind, status=CallbackEvent.Status.DONE).count() >= count


@pytest.mark.django_db(transaction=True)
def test_tags_made_in_wecom_arrive_by_callback_and_a_deleted_one_disappears_with_the_customers_tags(emulator, shop):
    external_userid, follow = _friend(emulator, shop)
    created = emulator.control("POST", "tags", {"group_name": "会员偏好", "names": ["敏感肌", "通勤"]})
    sensitive = created["tags"][0]["id"]
    assert _wait(lambda: _events_done("change_external_tag", 1))
    assert _omni_library() == {"会员偏好": ["敏感肌", "通勤"]}
    # Another associate's tag on her in the WeCom client: edit_external_contact, and Omni reads her tags.
    emulator.control(
        "POST", "tags/mark", {"userid": "linyu", "external_userid": external_userid, "add_tag": [sensitive]}
    )
    assert _wait(lambda: CustomerTag.objects.filter(customer=follow.customer, tag__wecom_tag_id=sensitive).exists())
    assert CustomerTag.objects.get(customer=follow.customer).source == CustomerTag.Source.WECOM

    emulator.control("POST", "tags/edit", {"id": sensitive, "name": "敏感肌肤"})
    assert _wait(lambda: Tag.objects.filter(name="敏感肌肤").exists())
    emulator.control("POST", "tags/delete", {"id": sensitive})

    assert _wait(lambda: not Tag.objects.filter(wecom_tag_id=sensitive).exists())
    assert _omni_library() == {"会员偏好": ["通勤"]}
    assert CustomerTag.objects.filter(customer=follow.customer).count() == 0
    emulator.control("POST", "tags/delete", {"id": created["group_id"]})
    assert _wait(lambda: not TagGroup.objects.exists())
    assert Tag.objects.count() == 0
    assert not CallbackEvent.objects.exclude(status=CallbackEvent.Status.DONE).exists()


@pytest.mark.django_db(transaction=True)
def test_the_nightly_tags_page_copies_the_library_and_deletes_what_wecom_no_longer_has(emulator, shop):
    emulator.control("POST", "faults", {"callbacks": "off"})
    emulator.control("POST", "tags", {"group_name": "兴趣", "names": ["护肤", "彩妆"]})
    emulator.control("POST", "tags", {"group_name": "尺码", "names": ["S", "M"]})
    local = TagGroup.objects.create(name="兴趣")  # made before WeCom had it: linked by name, not duplicated
    stale_group = TagGroup.objects.create(name="旧组", wecom_group_id="etGONE")
    Tag.objects.create(name="旧标签", group="旧组", tag_group=stale_group, wecom_tag_id="etGONETAG")
    omni_only = Tag.objects.create(name="手写标签")  # a tag Omni keeps alone is left

    call_command("wecom_sync", "tags", "--inline")

    assert _omni_library() == {"兴趣": ["彩妆", "护肤"], "尺码": ["M", "S"]}
    assert TagGroup.objects.get(name="兴趣").pk == local.pk
    assert Tag.objects.filter(pk=omni_only.pk).exists()
    assert Tag.objects.filter(tag_group__name="尺码").first().group == "尺码"


@pytest.mark.django_db(transaction=True)
def test_the_contacts_sync_brings_the_tags_a_customer_got_in_wecom(emulator, shop):
    external_userid, follow = _friend(emulator, shop)
    emulator.control("POST", "faults", {"callbacks": "off"})
    created = emulator.control("POST", "tags", {"group_name": "兴趣", "names": ["护肤"]})
    call_command("wecom_sync", "tags", "--inline")
    emulator.control(
        "POST",
        "tags/mark",
        {"userid": "linyu", "external_userid": external_userid, "add_tag": [created["tags"][0]["id"]]},
    )
    assert not CustomerTag.objects.exists()

    call_command("wecom_sync", "contacts", "--inline")

    assert list(CustomerTag.objects.values_list("customer_id", "tag__name", "source")) == [
        (follow.customer_id, "护肤", CustomerTag.Source.WECOM)
    ]


@pytest.mark.django_db(transaction=True)
def test_admin_changes_are_pushed_to_wecom_and_written_here_at_once(emulator, shop):
    emulator.control("POST", "faults", {"callbacks": "off"})
    store = shop.store

    group = tag_group_create(name="门店活动", tag_names=["试衣", "到店"], store=store, order=3)
    extra = tag_create(group=group, name="直播")
    assert _wecom_library(emulator) == {"门店活动": ["到店", "直播", "试衣"]}
    assert (group.store_id, group.order, bool(group.wecom_group_id)) == (store.pk, 3, True)
    assert _omni_library() == {"门店活动": ["到店", "直播", "试衣"]}

    tag_edit(tag=extra, name="线上直播")
    group = tag_group_edit(group=group, name="门店活动2")
    assert _wecom_library(emulator) == {"门店活动2": ["到店", "线上直播", "试衣"]}
    assert set(Tag.objects.values_list("group", flat=True)) == {"门店活动2"}

    with pytest.raises(ApplicationError) as refused:
        tag_create(group=group, name="到店")
    assert refused.value.code == "tag_duplicate"
    with pytest.raises(ApplicationError) as too_long:
        tag_create(group=group, name="长" * 31)
    assert too_long.value.code == "invalid_tag_name"

    tag_delete(tag=Tag.objects.get(name="线上直播"))
    assert _wecom_library(emulator) == {"门店活动2": ["到店", "试衣"]}
    tag_group_delete(group=group)
    assert _wecom_library(emulator) == {}
    assert (TagGroup.objects.count(), Tag.objects.count()) == (0, 0)
    calls = emulator.control("GET", "calls")["calls"]
    assert {c["api"] for c in calls} >= {
        "externalcontact/add_corp_tag",
        "externalcontact/edit_corp_tag",
        "externalcontact/del_corp_tag",
    }


@pytest.mark.django_db(transaction=True)
def test_the_sidebar_picker_marks_and_unmarks_in_wecom_and_sees_only_its_stores_groups(emulator, shop):
    external_userid, follow = _friend(emulator, shop)
    emulator.control("POST", "faults", {"callbacks": "off"})
    brand = tag_group_create(name="兴趣", tag_names=["护肤", "彩妆"])
    mine = tag_group_create(name="静安店活动", tag_names=["到店"], store=shop.store)
    tag_group_create(name="徐汇店活动", tag_names=["试衣"], store=StoreFactory(code="SH02", name="上海徐汇店"))
    skin = Tag.objects.get(name="护肤")
    visit = Tag.objects.get(name="到店")
    other = Tag.objects.get(name="试衣")

    picker = tag_picker_get(customer=follow.customer, associate=shop)
    assert sorted(g.name for g in picker) == ["兴趣", "静安店活动"]
    assert [g.store_only for g in picker if g.name == "静安店活动"] == [True]

    customer_tags_mark(customer=follow.customer, associate=shop, add=[skin.pk, visit.pk])
    relation = next(f for f in emulator.control("GET", "tags")["follows"] if f["external_userid"] == external_userid)
    assert sorted(relation["tag_ids"]) == sorted([skin.wecom_tag_id, visit.wecom_tag_id])
    customer_tags_mark(customer=follow.customer, associate=shop, remove=[skin.pk])
    relation = next(f for f in emulator.control("GET", "tags")["follows"] if f["external_userid"] == external_userid)
    assert relation["tag_ids"] == [visit.wecom_tag_id]
    assert list(CustomerTag.objects.filter(customer=follow.customer).values_list("tag_id", flat=True)) == [visit.pk]
    assert brand.pk and mine.pk

    with pytest.raises(ApplicationError) as refused:
        customer_tags_mark(customer=follow.customer, associate=shop, add=[other.pk])
    assert refused.value.code == "tag_not_available"
    marks = emulator.control("GET", "calls", api="externalcontact/mark_tag")["count"]
    assert marks == 2


@pytest.mark.django_db(transaction=True)
def test_admin_forms_push_to_wecom_and_a_refusal_saves_nothing(emulator, shop, admin_client):
    emulator.control("POST", "faults", {"callbacks": "off"})

    created = admin_client.post(
        "/admin/customers/taggroup/add/",
        {
            "name": "穿衣风格",
            "store": "",
            "order": "0",
            "first_tags": "通勤，度假",
            "tags-TOTAL_FORMS": "0",
            "tags-INITIAL_FORMS": "0",
        },
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    group = TagGroup.objects.get(name="穿衣风格")
    assert _wecom_library(emulator) == {"穿衣风格": ["度假", "通勤"]}

    # WeCom already has the name (made in its console meanwhile, no callback here): refused, nothing saved.
    emulator.control("POST", "tags", {"group_name": "穿衣风格", "names": ["街头"]})
    refused = admin_client.post(
        "/admin/customers/tag/add/", {"name": "街头", "tag_group": str(group.pk), "order": "0"}, follow=True
    )
    assert "企业微信中已有同名标签" in refused.content.decode()
    assert not Tag.objects.filter(name="街头").exists()

    tag = Tag.objects.get(name="通勤")
    deleted = admin_client.post(f"/admin/customers/tag/{tag.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert _wecom_library(emulator) == {"穿衣风格": ["度假", "街头"]}
    assert not Tag.objects.filter(pk=tag.pk).exists()
