"""The quick replies and materials of the sidebar (library app, sidebar/library_apis.py): variables filled for the
chat's customer and refused when unknown, keyword search (CJK on PostgreSQL through the trigram indexes), scoping
(HQ, store, personal), sends recorded once per request id, and image media refreshed before WeCom forgets them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from associates.auth import SESSION_KEY
from coupons.models import Coupon
from coupons.sending import coupon_pack_send
from demo.library import picture_png
from library.models import Material, QuickReply, ReplyGroup, SentMessage
from library.selectors import _contains, customer_sent_messages_list, quick_replies_list
from library.services import material_send
from omni.bulk import is_postgres
from tests import test_community_groups as groups
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    ProductFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db
API = "/api/v1/sidebar/"


def _signed_in(associate) -> Client:
    client = Client()
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


@pytest.fixture
def shop():
    store_a, store_b = StoreFactory(code="SH01", name="上海静安店"), StoreFactory(code="BJ01", name="北京三里屯店")
    linyu = AssociateFactory(store=store_a, name="林雨", wecom_userid="linyu")
    zhaomin = AssociateFactory(store=store_a, name="赵敏")
    beijing = AssociateFactory(store=store_b, name="北京导购")
    chen = CustomerFactory(name="陈静", gender="female", primary_store=store_a)
    hq_group = ReplyGroup.objects.create(name="开场问候")
    hq = QuickReply.objects.create(group=hq_group, title="初次问候", text="{客户称呼}您好，我是{门店}的{导购}")
    store = QuickReply.objects.create(store=store_a, title="周末到店礼", text="{客户名}，周末到店试穿送小样")
    other_store = QuickReply.objects.create(store=store_b, title="三里屯专属", text="北京店的尺码活动")
    mine = QuickReply.objects.create(owner=linyu, store=store_a, title="我的尺码话术", text="这款尺码偏大半码")
    theirs = QuickReply.objects.create(owner=zhaomin, store=store_a, title="赵敏的话术", text="赵敏的尺码说明")
    return {
        "linyu": linyu,
        "zhaomin": zhaomin,
        "beijing": beijing,
        "chen": chen,
        "store_b": store_b,
        "hq": hq,
        "store": store,
        "other_store": other_store,
        "mine": mine,
        "theirs": theirs,
        "api": _signed_in(linyu),
    }


def _titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [r["title"] for r in response.json()["replies"]]


def test_the_associate_sees_hq_their_store_and_their_own_replies_filled_for_the_customer(shop):
    response = shop["api"].get(f"{API}customers/{shop['chen'].pk}/replies/")

    assert _titles(response) == ["初次问候", "周末到店礼", "我的尺码话术"]
    first = response.json()["replies"][0]
    assert first["filled"] == "陈女士您好，我是上海静安店的林雨"
    assert (first["scope"], first["editable"], first["my_uses"]) == ("hq", False, 0)
    assert response.json()["replies"][2]["editable"] is True


def test_the_coupon_amount_variable_is_the_customers_usable_coupons_face_value(shop):
    pack = CouponPackFactory(name="老客回购礼")
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(name="立减50", value=Decimal("50")))
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(name="立减30", value=Decimal("30")))
    coupon_pack_send(pack_id=pack.pk, customer_id=shop["chen"].pk, request_no="pack-1", associate=shop["linyu"])
    # A used coupon no longer counts.
    Coupon.objects.filter(customer=shop["chen"], template__name="立减30").update(status=Coupon.Status.REDEEMED)
    reply = QuickReply.objects.create(title="提醒用券", text="您还有 {券包金额} 元券，{{限时}}")

    sent = shop["api"].post(
        f"{API}customers/{shop['chen'].pk}/replies/{reply.pk}/send/", {"request_id": "t-1"}, "application/json"
    )

    assert sent.status_code == 201, sent.content
    assert sent.json()["message"] == {
        "msgtype": "text",
        "enterChat": True,
        "text": {"content": "您还有 50 元券，{限时}"},
    }


def test_search_matches_chinese_substrings_of_title_and_text(shop):
    api, chen = shop["api"], shop["chen"]

    assert _titles(api.get(f"{API}customers/{chen.pk}/replies/", {"q": "尺码"})) == ["我的尺码话术"]
    assert _titles(api.get(f"{API}customers/{chen.pk}/replies/", {"q": "静安"})) == []
    assert _titles(api.get(f"{API}customers/{chen.pk}/replies/", {"q": "到店"})) == ["周末到店礼"]
    assert _titles(api.get(f"{API}customers/{chen.pk}/replies/", {"q": "问候"})) == ["初次问候"]
    assert _titles(api.get(f"{API}customers/{chen.pk}/replies/", {"q": "%"})) == []


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL: the trigram index serves the CJK ILIKE search")
def test_on_postgresql_the_cjk_search_is_ilike_served_by_the_trigram_indexes(shop):
    # pg_trgm takes CJK characters into trigrams under this database's ctype (else ILIKE still answers, unindexed).
    with connection.cursor() as cursor:
        cursor.execute("SELECT cardinality(show_trgm('尺码偏大')) > 0")
        assert cursor.fetchone() == (True,)
    keyword_only = QuickReply.objects.filter(_contains(("title", "text"), "尺码"))
    sql, params = keyword_only.query.sql_with_params()

    with connection.cursor() as cursor:
        # A few hundred rows fit in a page or two, where a scan is cheaper: ask whether the index can serve it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "ILIKE" in sql
    assert "library_reply_text_trgm" in plan and "library_reply_title_trgm" in plan, plan
    assert [r.title for r in quick_replies_list(associate=shop["linyu"], keyword="尺码")] == ["我的尺码话术"]
    assert [r.title for r in quick_replies_list(associate=shop["linyu"], keyword="码")] == ["我的尺码话术"]


def test_another_stores_and_another_associates_replies_are_invisible(shop):
    api, chen = shop["api"], shop["chen"]
    titles = _titles(api.get(f"{API}customers/{chen.pk}/replies/", {"q": "尺码"}))

    send_other = api.post(
        f"{API}customers/{chen.pk}/replies/{shop['other_store'].pk}/send/", {"request_id": "x"}, "application/json"
    )
    edit_theirs = api.put(f"{API}replies/{shop['theirs'].pk}/", {"title": "改", "text": "改"}, "application/json")

    assert "三里屯专属" not in titles and "赵敏的话术" not in titles
    assert (send_other.status_code, send_other.json()["error"]["code"]) == (404, "reply_not_found")
    assert (edit_theirs.status_code, edit_theirs.json()["error"]["code"]) == (404, "reply_not_found")
    assert SentMessage.objects.count() == 0
    assert QuickReply.objects.get(pk=shop["theirs"].pk).title == "赵敏的话术"


def test_a_customer_of_another_store_is_not_found(shop):
    stranger = CustomerFactory(name="北京客户", primary_store=shop["store_b"])

    response = shop["api"].get(f"{API}customers/{stranger.pk}/replies/")

    assert response.status_code == 404


def test_associates_cannot_edit_or_delete_hq_or_store_replies(shop):
    api = shop["api"]

    for reply in (shop["hq"], shop["store"]):
        edit = api.put(f"{API}replies/{reply.pk}/", {"title": "改掉", "text": "改掉"}, "application/json")
        delete = api.delete(f"{API}replies/{reply.pk}/")
        assert (edit.status_code, edit.json()["error"]["code"]) == (403, "reply_read_only")
        assert (delete.status_code, delete.json()["error"]["code"]) == (403, "reply_read_only")

    assert sorted(QuickReply.objects.values_list("title", flat=True)) == sorted(
        ["初次问候", "周末到店礼", "三里屯专属", "我的尺码话术", "赵敏的话术"]
    )


def test_the_associate_writes_edits_and_deletes_their_own_replies(shop):
    api, linyu = shop["api"], shop["linyu"]

    created = api.post(f"{API}replies/", {"title": "约试穿", "text": "{客户称呼}，周六来试穿？"}, "application/json")
    reply = QuickReply.objects.get(pk=created.json()["id"])
    edited = api.put(f"{API}replies/{reply.pk}/", {"title": "约试穿", "text": "{导购}等您"}, "application/json")
    deleted = api.delete(f"{API}replies/{shop['mine'].pk}/")

    assert (created.status_code, edited.status_code, deleted.status_code) == (201, 200, 204)
    reply.refresh_from_db()
    assert (reply.owner, reply.store, reply.text) == (linyu, linyu.store, "{导购}等您")
    assert not QuickReply.objects.filter(pk=shop["mine"].pk).exists()


def test_an_unknown_variable_or_a_lone_brace_is_refused_and_nothing_is_saved(shop):
    api = shop["api"]

    unknown = api.post(f"{API}replies/", {"title": "错", "text": "{客户生日}快乐"}, "application/json")
    brace = api.post(f"{API}replies/", {"title": "错", "text": "满300{减50"}, "application/json")
    edit = api.put(f"{API}replies/{shop['mine'].pk}/", {"title": "改", "text": "{会员等级}"}, "application/json")

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "reply_variable_unknown")
    assert unknown.json()["error"]["details"]["variable"] == "客户生日"
    assert (brace.status_code, brace.json()["error"]["code"]) == (400, "reply_brace_unmatched")
    assert (edit.status_code, edit.json()["error"]["code"]) == (400, "reply_variable_unknown")
    assert QuickReply.objects.count() == 5
    assert QuickReply.objects.get(pk=shop["mine"].pk).text == "这款尺码偏大半码"


def test_a_send_is_recorded_once_per_request_id_and_counted_per_associate(shop):
    api, chen, hq = shop["api"], shop["chen"], shop["hq"]
    url = f"{API}customers/{chen.pk}/replies/{hq.pk}/send/"

    first = api.post(url, {"request_id": "tap-1"}, "application/json")
    again = api.post(url, {"request_id": "tap-1"}, "application/json")
    second = api.post(url, {"request_id": "tap-2"}, "application/json")
    reused = api.post(
        f"{API}customers/{chen.pk}/replies/{shop['store'].pk}/send/", {"request_id": "tap-1"}, "application/json"
    )
    _signed_in(shop["zhaomin"]).post(url, {"request_id": "tap-1"}, "application/json")

    assert (first.status_code, again.status_code, second.status_code) == (201, 200, 201)
    assert first.json() == again.json()
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "request_id_reused")
    listed = api.get(f"{API}customers/{chen.pk}/replies/").json()["replies"]
    assert [r["my_uses"] for r in listed] == [2, 0, 0]
    assert SentMessage.objects.filter(reply=hq).count() == 3
    timeline = list(customer_sent_messages_list(customer_id=chen.pk))
    assert [(m.associate.name, m.title, m.message["text"]["content"]) for m in timeline][-1] == (
        "林雨",
        "初次问候",
        "陈女士您好，我是上海静安店的林雨",
    )


# Materials


emulator = groups.emulator  # the fixture: a WeCom emulator with Omni's settings pointed at it


def _calls(emulator, api: str) -> int:
    """Successful calls (a call refused for an expired token is retried with a new one)."""
    return emulator.control("GET", "calls", api=api, errcode="0")["count"]


@pytest.fixture
def materials(shop):
    product = ProductFactory(name="羊毛大衣", sku="QM-COAT-01", price=Decimal("1999.00"))
    return {
        "image": Material.objects.create(
            kind="image", title="新品海报", content=picture_png(), filename="p.png", content_type="image/png"
        ),
        "link": Material.objects.create(
            kind="link", title="穿搭指南", description="5 套搭配", link_url="https://e.example/l", cover_url=""
        ),
        "mp": Material.objects.create(
            kind="miniprogram", title="会员中心", miniprogram_appid="wxapp", miniprogram_page="pages/m", cover_url=""
        ),
        "product": Material.objects.create(
            kind="product", title="羊毛大衣", product=product, store=shop["linyu"].store
        ),
        "other": Material.objects.create(
            kind="link", title="北京专属", link_url="https://e.example/b", store=shop["store_b"]
        ),
    }


def test_materials_are_listed_per_scope_and_sent_as_their_msgtype(shop, materials, settings):
    settings.WECOM_MINIPROGRAM_APPID = ""
    api, chen = shop["api"], shop["chen"]

    listed = api.get(f"{API}customers/{chen.pk}/materials/").json()["materials"]
    link = api.post(
        f"{API}customers/{chen.pk}/materials/{materials['link'].pk}/send/", {"request_id": "m-1"}, "application/json"
    )
    mp = api.post(
        f"{API}customers/{chen.pk}/materials/{materials['mp'].pk}/send/", {"request_id": "m-2"}, "application/json"
    )
    product = api.post(
        f"{API}customers/{chen.pk}/materials/{materials['product'].pk}/send/", {"request_id": "m-3"}, "application/json"
    )
    other = api.post(
        f"{API}customers/{chen.pk}/materials/{materials['other'].pk}/send/", {"request_id": "m-4"}, "application/json"
    )
    other_content = api.get(f"{API}materials/{materials['other'].pk}/content/")

    assert [m["title"] for m in listed] == ["新品海报", "穿搭指南", "会员中心", "羊毛大衣"]
    assert link.json()["message"] == {
        "msgtype": "news",
        "enterChat": True,
        "news": {"link": "https://e.example/l", "title": "穿搭指南", "desc": "5 套搭配", "imgUrl": ""},
    }
    assert mp.json()["message"]["miniprogram"] == {
        "appid": "wxapp",
        "title": "会员中心",
        "imgUrl": "",
        "page": "pages/m",
    }
    assert product.json()["message"]["news"]["link"].endswith("/p/QM-COAT-01/")
    assert (other.status_code, other.json()["error"]["code"]) == (404, "material_not_found")
    assert other_content.status_code == 404
    assert SentMessage.objects.filter(kind="material").count() == 3


def test_an_image_is_uploaded_once_reused_while_fresh_and_uploaded_again_before_wecom_forgets_it(
    shop, materials, emulator
):
    image, linyu, chen = materials["image"], shop["linyu"], shop["chen"]

    first = material_send(associate=linyu, customer=chen, material_id=image.pk, request_id="i-1")
    second = material_send(associate=linyu, customer=chen, material_id=image.pk, request_id="i-2")
    assert _calls(emulator, "media/upload") == 1
    assert first.record.message["image"]["mediaid"] == second.record.message["image"]["mediaid"]
    # Two days and 23 hours later Omni uploads it again rather than send a media_id about to expire.
    Material.objects.filter(pk=image.pk).update(media_uploaded_at=timezone.now() - timedelta(days=2, hours=23))
    third = material_send(associate=linyu, customer=chen, material_id=image.pk, request_id="i-3")

    assert _calls(emulator, "media/upload") == 2
    assert third.record.message["image"]["mediaid"] != first.record.message["image"]["mediaid"]


def test_refresh_media_uploads_again_and_the_record_takes_the_new_media_id(shop, materials, emulator):
    image, linyu, chen = materials["image"], shop["linyu"], shop["chen"]
    first = material_send(associate=linyu, customer=chen, material_id=image.pk, request_id="i-1")
    emulator.control("POST", "clock", {"advance_seconds": 3 * 24 * 3600 + 1})

    retry = material_send(associate=linyu, customer=chen, material_id=image.pk, request_id="i-1", refresh_media=True)

    assert (retry.created, retry.record.pk) == (False, first.record.pk)
    assert retry.record.message["image"]["mediaid"] != first.record.message["image"]["mediaid"]
    assert SentMessage.objects.get().message == retry.record.message
    assert _calls(emulator, "media/upload") == 2
