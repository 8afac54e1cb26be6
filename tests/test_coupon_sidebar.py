"""The sidebar's coupon card: which packs an associate may send a customer and why not, sending one (the coupons
and the chat card), retries, and what the customer holds."""

from decimal import Decimal

import pytest
from rest_framework import serializers
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from coupons.links import coupon_page_customer_id
from coupons.models import Coupon, CouponPack, IssueRequest
from coupons.redemption import OrderIn
from coupons.till import coupon_redeem
from sidebar.coupon_apis import PackSentOut, SidebarCouponsOut
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    store, other = StoreFactory(name="上海静安店"), StoreFactory(name="北京三里屯店")
    associate = AssociateFactory(store=store, name="王小美")
    customer = CustomerFactory(primary_store=store, primary_associate=associate)
    client = APIClient()
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    welcome = CouponPackFactory(name="新客礼包", daily_quota=2)
    CouponPackItemFactory(pack=welcome, template=CouponTemplateFactory(name="满300减50"))
    CouponPackItemFactory(
        pack=welcome,
        template=CouponTemplateFactory(
            name="20元无门槛", kind="amount_off", value=Decimal("20"), threshold=0, per_customer_limit=2
        ),
        quantity=2,
    )
    elsewhere = CouponPackFactory(name="北京专享")
    elsewhere.stores.set([other])
    CouponPackItemFactory(pack=elsewhere)
    managers_only = CouponPackFactory(name="店长特批", sender_role=CouponPack.SenderRole.STORE_MANAGER)
    CouponPackItemFactory(pack=managers_only)
    paused = CouponPackFactory(name="暂停的券包", status=CouponPack.Status.PAUSED)
    CouponPackItemFactory(pack=paused)
    return {"store": store, "associate": associate, "customer": customer, "client": client, "pack": welcome}


def _conforms(serializer: type[serializers.Serializer], body: dict) -> None:
    checked = serializer(data=body)
    assert checked.is_valid(), checked.errors
    assert set(body) == set(serializer().fields)


def test_the_card_lists_only_the_running_packs_this_associate_may_send(world):
    response = world["client"].get(f"/api/v1/sidebar/customers/{world['customer'].pk}/coupons/")

    assert response.status_code == 200
    _conforms(SidebarCouponsOut, response.json())
    packs = response.json()["packs"]
    assert [p["name"] for p in packs] == ["新客礼包"]
    assert packs[0]["items"] == [
        {"name": "满300减50", "rule_text": "满300减50", "quantity": 1},
        {"name": "20元无门槛", "rule_text": "立减20元", "quantity": 2},
    ]
    assert (packs[0]["face_value"], packs[0]["sent_today"], packs[0]["daily_quota"], packs[0]["blocked"]) == (
        "90.00",
        0,
        2,
        "",
    )
    assert response.json()["coupons"] == []


def test_sending_issues_the_pack_and_answers_with_a_news_card_to_the_customers_coupon_page(world):
    url = f"/api/v1/sidebar/customers/{world['customer'].pk}/coupon-packs/{world['pack'].pk}/send/"

    response = world["client"].post(url, {"request_no": "tap-1"}, format="json")

    assert response.status_code == 201
    body = response.json()
    _conforms(PackSentOut, body)
    assert [c["rule_text"] for c in body["coupons"]] == ["满300减50", "立减20元", "立减20元"]
    assert {c["status"] for c in body["coupons"]} == {"issued"}
    token = body["page_url"].rstrip("/").rsplit("/", 1)[1]
    assert coupon_page_customer_id(token=token) == world["customer"].pk
    assert body["card"]["link"] == body["page_url"]
    assert body["card"]["title"] == "上海静安店送您的专属券包：新客礼包"
    assert body["card"]["imgUrl"].endswith("/static/omni/coupon-card.png")
    issued = Coupon.objects.filter(customer=world["customer"])
    assert issued.count() == 3
    assert set(issued.values_list("associate_id", "store_id")) == {(world["associate"].pk, world["store"].pk)}
    assert IssueRequest.objects.get().source == IssueRequest.Source.SIDEBAR


def test_a_retried_tap_returns_the_same_coupons_and_card_and_issues_nothing(world):
    url = f"/api/v1/sidebar/customers/{world['customer'].pk}/coupon-packs/{world['pack'].pk}/send/"
    first = world["client"].post(url, {"request_no": "tap-1"}, format="json").json()

    again = world["client"].post(url, {"request_no": "tap-1"}, format="json")

    assert again.status_code == 200
    assert [c["id"] for c in again.json()["coupons"]] == [c["id"] for c in first["coupons"]]
    assert again.json()["card"]["imgUrl"] == first["card"]["imgUrl"]
    assert Coupon.objects.count() == 3


def test_after_a_send_the_card_shows_the_coupons_held_and_why_the_pack_cannot_go_again(world):
    customer = world["customer"]
    world["client"].post(
        f"/api/v1/sidebar/customers/{customer.pk}/coupon-packs/{world['pack'].pk}/send/",
        {"request_no": "tap-1"},
        format="json",
    )
    first = Coupon.objects.filter(template__name="满300减50").get()
    coupon_redeem(
        code=first.code,
        order=OrderIn(channel="store", store=world["store"], order_ref="POS-9", amount=Decimal("320")),
        request_no="pos-1",
    )

    body = world["client"].get(f"/api/v1/sidebar/customers/{customer.pk}/coupons/").json()

    assert (body["packs"][0]["blocked"], body["packs"][0]["blocked_text"]) == (
        "limit_reached",
        "客户已领过「满300减50」",
    )
    assert body["packs"][0]["sent_today"] == 1
    assert [(c["rule_text"], c["status"], c["sent_by"]) for c in body["coupons"]] == [
        ("立减20元", "issued", "王小美"),
        ("立减20元", "issued", "王小美"),
        ("满300减50", "redeemed", "王小美"),
    ]
    assert body["coupons"][2]["status_label"] == "已核销" and body["coupons"][2]["redeemed_at"]


def test_a_pack_the_associate_may_not_send_is_refused_and_nothing_is_issued(world):
    managers_only = CouponPack.objects.get(name="店长特批")

    response = world["client"].post(
        f"/api/v1/sidebar/customers/{world['customer'].pk}/coupon-packs/{managers_only.pk}/send/",
        {"request_no": "tap-1"},
        format="json",
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_allowed"
    assert Coupon.objects.count() == 0 and IssueRequest.objects.count() == 0


def test_a_customer_the_associate_may_not_see_is_404_and_nothing_is_issued(world):
    stranger = CustomerFactory(primary_store=StoreFactory())

    response = world["client"].post(
        f"/api/v1/sidebar/customers/{stranger.pk}/coupon-packs/{world['pack'].pk}/send/",
        {"request_no": "tap-1"},
        format="json",
    )

    assert response.status_code == 404
    assert Coupon.objects.count() == 0


def test_a_send_without_a_request_number_is_400_and_nothing_is_issued(world):
    response = world["client"].post(
        f"/api/v1/sidebar/customers/{world['customer'].pk}/coupon-packs/{world['pack'].pk}/send/", {}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert Coupon.objects.count() == 0


def test_the_daily_quota_shows_on_the_card_once_used(world):
    for n in range(2):
        other = CustomerFactory(primary_store=world["store"])
        world["client"].post(
            f"/api/v1/sidebar/customers/{other.pk}/coupon-packs/{world['pack'].pk}/send/",
            {"request_no": f"tap-{n}"},
            format="json",
        )

    body = world["client"].get(f"/api/v1/sidebar/customers/{world['customer'].pk}/coupons/").json()
    refused = world["client"].post(
        f"/api/v1/sidebar/customers/{world['customer'].pk}/coupon-packs/{world['pack'].pk}/send/",
        {"request_no": "tap-9"},
        format="json",
    )

    assert (body["packs"][0]["blocked"], body["packs"][0]["sent_today"]) == ("quota_reached", 2)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "quota_reached")
    assert Coupon.objects.filter(customer=world["customer"]).count() == 0
