"""Holds and pickups (fulfilment.holds, fulfilment.till): stock by store for a style, holding (idempotent, atomic,
bounded), cancel, the expiry beat, the customer's card, the POS/OMS pickups API (list, confirm, refuse, collect) with
its error codes, stock updates keeping holds, and the sale of a collected hold credited to the holder and her store."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from customers.ingestion import api_key_create
from customers.models import Channel, Order, StoreStock
from fulfilment.holds import hold_place, holds_expire, style_availability
from fulfilment.models import Pickup, PickupEvent
from fulfilment.tasks import holds_expire_task
from insights.attribution import attribution_refresh
from insights.models import Attribution, TouchKind
from notices.models import Notice
from omni.errors import ApplicationError
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    OrderFactory,
    ProductFactory,
    StoreFactory,
    StoreStockFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    here = StoreFactory(code="SH01", name="上海静安店", city="上海", latitude="31.228611", longitude="121.454722")
    jingan = StoreFactory(
        code="SH02",
        name="上海徐汇店",
        city="上海",
        latitude="31.188000",
        longitude="121.437000",
        address="上海市徐汇区衡山路 10 号",
        opening_hours="10:00–22:00",
        hold_hours=24,
    )
    far = StoreFactory(code="SZ01", name="苏州观前店", city="苏州", latitude="31.311000", longitude="120.622000")
    same_city = StoreFactory(code="SH03", name="上海浦东店", city="上海")
    linyu = AssociateFactory(store=here, wecom_userid="linyu", name="林雨")
    other = AssociateFactory(store=jingan, wecom_userid="zhouqi", name="周琪")
    customer = CustomerFactory(name="陈静", primary_store=here, primary_associate=linyu)
    dresses = {
        size: ProductFactory(
            sku=f"QM-DR01-BK-{size}",
            name=f"真丝连衣裙 黑色 {size}",
            style_code="QM-DR01",
            size=size,
            colour="黑色",
            price=Decimal("1699.00"),
            image_url="https://img.example.com/dr01.jpg",
        )
        for size in ("S", "M")
    }
    StoreStockFactory(store=here, product=dresses["S"], quantity=2)
    StoreStockFactory(store=here, product=dresses["M"], quantity=0)
    StoreStockFactory(store=jingan, product=dresses["M"], quantity=2)
    StoreStockFactory(store=far, product=dresses["M"], quantity=5)
    StoreStockFactory(store=same_city, product=dresses["M"], quantity=1)
    return {
        "here": here,
        "jingan": jingan,
        "far": far,
        "same_city": same_city,
        "linyu": linyu,
        "other": other,
        "customer": customer,
        "S": dresses["S"],
        "M": dresses["M"],
    }


def _signed_in(associate) -> Client:
    client = Client()
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


def _pos(*, stores=(), scopes=("pickups",), channel=Channel.STORE_POS) -> APIClient:
    _, secret = api_key_create(name="POS", channel=channel, stores=stores, scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def _stock(store, product) -> tuple[int, int]:
    return StoreStock.objects.filter(store=store, product=product).values_list("quantity", "held").get()


def _hold(shop, *, request_id="h-1", store="SH02", sku="QM-DR01-BK-M", **kwargs) -> Pickup:
    return hold_place(
        associate=shop["linyu"], customer=shop["customer"], sku=sku, store_code=store, request_id=request_id, **kwargs
    ).pickup


# ---------------------------------------------------------------------------------------------------------------
# Stock by store


def test_availability_lists_the_own_store_first_then_the_nearest_with_available_units(shop):
    _hold(shop)  # one of Xuhui's two M held

    found = style_availability(sku="QM-DR01-BK-S", store=shop["here"])

    assert [v.sku for v in found.variants] == ["QM-DR01-BK-M", "QM-DR01-BK-S"]
    assert [(s.store.code, s.is_own) for s in found.stores] == [
        ("SH01", True),
        ("SH02", False),
        ("SZ01", False),
        ("SH03", False),
    ]
    assert [[v.available for v in s.variants] for s in found.stores] == [[0, 2], [1, 0], [5, 0], [1, 0]]
    assert found.stores[1].distance_km == 4.8


def test_available_is_never_below_zero_when_a_stock_update_lowers_quantity_under_the_held_units(shop):
    _hold(shop, quantity=2)
    StoreStock.objects.filter(store=shop["jingan"], product=shop["M"]).update(quantity=1)

    found = style_availability(sku="QM-DR01-BK-M", store=shop["here"])

    assert _stock(shop["jingan"], shop["M"]) == (1, 2)
    assert "SH02" not in [s.store.code for s in found.stores]  # nothing to hold there any more
    with pytest.raises(ApplicationError) as refused:
        _hold(shop, request_id="h-2")
    assert refused.value.code == "sold_out" and refused.value.details["available"] == 0


def test_the_availability_api_answers_the_style_per_store(shop):
    response = _signed_in(shop["linyu"]).get("/api/v1/sidebar/products/QM-DR01-BK-M/availability/")

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "真丝连衣裙 黑色 M" and body["price"] == "1699.00"
    assert body["variants"] == [
        {"sku": "QM-DR01-BK-M", "size": "M", "colour": "黑色"},
        {"sku": "QM-DR01-BK-S", "size": "S", "colour": "黑色"},
    ]
    own, xuhui = body["stores"][:2]
    assert (own["code"], own["is_own"], own["stock"][0]) == ("SH01", True, {"sku": "QM-DR01-BK-M", "available": 0})
    assert (xuhui["name"], xuhui["opening_hours"], xuhui["hold_hours"], xuhui["available"]) == (
        "上海徐汇店",
        "10:00–22:00",
        24,
        2,
    )
    assert _signed_in(shop["linyu"]).get("/api/v1/sidebar/products/NOPE/availability/").json()["error"]["code"] == (
        "unknown_sku"
    )
    assert Client().get("/api/v1/sidebar/products/QM-DR01-BK-M/availability/").status_code in (401, 403)


# ---------------------------------------------------------------------------------------------------------------
# Holding


def test_a_hold_reserves_units_with_the_stores_default_expiry_a_code_and_a_token_and_tells_that_store(shop):
    before = timezone.now()

    pickup = _hold(shop)

    assert (pickup.kind, pickup.status, pickup.store, pickup.associate) == (
        "hold",
        "held",
        shop["jingan"],
        shop["linyu"],
    )
    assert len(pickup.code) == 8 and pickup.code.isalnum() and pickup.code.isupper()
    assert len(pickup.token) >= 20
    assert before + dt.timedelta(hours=24) <= pickup.expires_at <= timezone.now() + dt.timedelta(hours=24)
    assert [(line.product.sku, line.quantity) for line in pickup.lines.all()] == [("QM-DR01-BK-M", 1)]
    assert _stock(shop["jingan"], shop["M"]) == (2, 1)
    told = Notice.objects.get()
    assert (told.associate, told.kind) == (shop["other"], Notice.Kind.HOLD)
    assert pickup.code in told.description and "林雨" in told.description


def test_a_hold_at_the_associates_own_store_tells_nobody(shop):
    _hold(shop, store="", sku="QM-DR01-BK-S", hours=3)

    assert _stock(shop["here"], shop["S"]) == (2, 1)
    assert not Notice.objects.exists()


def test_a_replayed_hold_returns_the_first_and_reserves_nothing_more(shop):
    first = hold_place(
        associate=shop["linyu"], customer=shop["customer"], sku="QM-DR01-BK-M", store_code="SH02", request_id="r"
    )
    again = hold_place(
        associate=shop["linyu"], customer=shop["customer"], sku="QM-DR01-BK-M", store_code="SH02", request_id="r"
    )

    assert (first.created, again.created, again.pickup.pk) == (True, False, first.pickup.pk)
    assert _stock(shop["jingan"], shop["M"]) == (2, 1)
    assert Pickup.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"quantity": 3}, "sold_out"),
        ({"quantity": 0}, "invalid_quantity"),
        ({"quantity": 6}, "invalid_quantity"),
        ({"hours": 0}, "hold_hours_out_of_range"),
        ({"hours": 24 * 7 + 1}, "hold_hours_out_of_range"),
        ({"store": "NOPE"}, "unknown_store"),
        ({"sku": "NOPE"}, "unknown_sku"),
    ],
)
def test_a_refused_hold_changes_nothing(shop, kwargs, code):
    with pytest.raises(ApplicationError) as refused:
        _hold(shop, **kwargs)

    assert refused.value.code == code
    assert _stock(shop["jingan"], shop["M"]) == (2, 0)
    assert not Pickup.objects.exists() and not Notice.objects.exists()


def test_the_hold_api_places_lists_and_cancels_and_answers_the_customer_card(shop):
    client = _signed_in(shop["linyu"])
    url = f"/api/v1/sidebar/customers/{shop['customer'].pk}/holds/"

    placed = client.post(
        url,
        {"sku": "QM-DR01-BK-M", "store": "SH02", "hours": 48, "request_id": "ui-1"},
        content_type="application/json",
    )
    replay = client.post(
        url,
        {"sku": "QM-DR01-BK-M", "store": "SH02", "hours": 48, "request_id": "ui-1"},
        content_type="application/json",
    )

    assert (placed.status_code, replay.status_code) == (201, 200)
    hold = placed.json()["hold"]
    pickup = Pickup.objects.get()
    assert hold["code"] == pickup.code and hold["status"] == "held" and hold["store"]["name"] == "上海徐汇店"
    assert hold["card"]["link"].endswith(f"/h/{pickup.token}/")
    assert hold["card"]["title"] == "已为你预留：真丝连衣裙 黑色 M"
    assert pickup.code in hold["card"]["desc"] and "黑色 · M" in hold["card"]["desc"]
    assert [h["code"] for h in client.get(url).json()["holds"]] == [pickup.code]

    cancelled = client.post(f"/api/v1/sidebar/holds/{pickup.pk}/cancel/")
    again = client.post(f"/api/v1/sidebar/holds/{pickup.pk}/cancel/")

    assert (cancelled.status_code, again.status_code) == (200, 200)
    assert cancelled.json()["hold"]["status"] == "cancelled"
    assert _stock(shop["jingan"], shop["M"]) == (2, 0)
    assert list(PickupEvent.objects.values_list("kind", flat=True)) == ["placed", "cancelled"]


def test_the_hold_api_refuses_sold_out_with_409_and_writes_nothing(shop):
    response = _signed_in(shop["linyu"]).post(
        f"/api/v1/sidebar/customers/{shop['customer'].pk}/holds/",
        {"sku": "QM-DR01-BK-M", "store": "SH01", "request_id": "x"},
        content_type="application/json",
    )

    assert response.status_code == 409 and response.json()["error"]["code"] == "sold_out"
    assert not Pickup.objects.exists()


def test_another_stores_associate_can_neither_hold_for_nor_see_the_holds_of_a_customer_she_may_not_see(shop):
    _hold(shop)
    stranger = _signed_in(shop["other"])
    url = f"/api/v1/sidebar/customers/{shop['customer'].pk}/holds/"

    assert stranger.get(url).status_code == 404
    response = stranger.post(url, {"sku": "QM-DR01-BK-M", "request_id": "s"}, content_type="application/json")
    assert response.status_code == 404
    assert stranger.post(f"/api/v1/sidebar/holds/{Pickup.objects.get().pk}/cancel/").status_code == 404
    assert Pickup.objects.get().status == "held" and _stock(shop["jingan"], shop["M"]) == (2, 1)


def test_the_holding_stores_manager_may_cancel_a_hold_placed_there(shop):
    pickup = _hold(shop)
    manager = AssociateFactory(store=shop["jingan"], role="store_manager")

    response = _signed_in(manager).post(f"/api/v1/sidebar/holds/{pickup.pk}/cancel/")

    assert response.status_code == 200 and _stock(shop["jingan"], shop["M"]) == (2, 0)


# ---------------------------------------------------------------------------------------------------------------
# Expiry


def test_the_expiry_beat_releases_the_units_of_holds_past_their_time_once(shop):
    due = _hold(shop, hours=1)
    later = _hold(shop, request_id="h-2", hours=5)
    now = timezone.now() + dt.timedelta(hours=2)

    assert holds_expire(now=now) == 1
    assert holds_expire(now=now) == 0

    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, due.close_reason, later.status) == ("expired", "超过保留时间", "held")
    assert _stock(shop["jingan"], shop["M"]) == (2, 1)
    assert PickupEvent.objects.filter(kind="expired").count() == 1


def test_the_expiry_task_runs_the_service(shop):
    pickup = _hold(shop, hours=1)
    Pickup.objects.filter(pk=pickup.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    assert holds_expire_task.delay().get() == 1
    assert _stock(shop["jingan"], shop["M"]) == (2, 0)


def test_an_expired_hold_is_not_cancelled_and_says_so(shop):
    pickup = _hold(shop, hours=1)
    holds_expire(now=timezone.now() + dt.timedelta(hours=2))

    response = _signed_in(shop["linyu"]).post(f"/api/v1/sidebar/holds/{pickup.pk}/cancel/")

    assert response.status_code == 409 and response.json()["error"]["code"] == "pickup_expired"
    assert _stock(shop["jingan"], shop["M"]) == (2, 0)


# ---------------------------------------------------------------------------------------------------------------
# The customer's card


def test_the_card_shows_item_store_hours_expiry_and_the_code_with_qr_and_barcode(shop):
    pickup = _hold(shop)

    response = Client().get(f"/h/{pickup.token}/")

    assert response.status_code == 200
    page = response.content.decode()
    for text in (
        "真丝连衣裙 黑色 M",
        "黑色",
        "尺码 M",
        "上海徐汇店",
        "衡山路 10 号",
        "10:00–22:00",
        pickup.code,
        "林雨",
    ):
        assert text in page
    assert 'class="qr"' in page and 'class="bar"' in page
    assert response["Cache-Control"] == "private, no-store"
    assert Client().get("/h/not-a-token/").status_code == 404


def test_a_closed_holds_card_shows_no_code_to_scan(shop):
    pickup = _hold(shop)
    holds_expire(now=timezone.now() + dt.timedelta(days=3))

    page = Client().get(f"/h/{pickup.token}/").content.decode()

    assert "已过期" in page and 'class="qr"' not in page


# ---------------------------------------------------------------------------------------------------------------
# The POS / OMS pickups API


def test_the_pos_lists_a_stores_open_holds_confirms_and_refuses_one(shop):
    kept = _hold(shop)
    refused = _hold(shop, request_id="h-2")
    pos = _pos(stores=[shop["jingan"]])

    listed = pos.get("/api/v1/pickups/", {"store": "SH02"})
    confirmed = pos.post(f"/api/v1/pickups/{kept.code}/confirm")
    refusal = pos.post(f"/api/v1/pickups/{refused.code}/refuse", {"reason": "样衣有瑕疵"}, format="json")
    again = pos.post(f"/api/v1/pickups/{refused.code}/refuse", {"reason": "样衣有瑕疵"}, format="json")

    assert listed.status_code == 200
    assert [(p["code"], p["kind"], p["lines"][0]["sku"]) for p in listed.json()["pickups"]] == [
        (kept.code, "hold", "QM-DR01-BK-M"),
        (refused.code, "hold", "QM-DR01-BK-M"),
    ]
    assert confirmed.status_code == 200 and confirmed.json()["confirmed_at"] is not None
    assert (refusal.status_code, refusal.json()["status"], again.status_code) == (200, "refused", 200)
    assert _stock(shop["jingan"], shop["M"]) == (2, 1)
    told = Notice.objects.filter(associate=shop["linyu"]).get()
    assert "样衣有瑕疵" in told.description
    assert [p["code"] for p in pos.get("/api/v1/pickups/", {"store": "SH02"}).json()["pickups"]] == [kept.code]


def test_the_pickups_api_needs_its_scope_and_the_keys_store(shop):
    pickup = _hold(shop)

    assert _pos(scopes=["stock"]).get("/api/v1/pickups/", {"store": "SH02"}).json()["error"]["code"] == "scope_missing"
    other = _pos(stores=[shop["here"]])
    assert other.get("/api/v1/pickups/", {"store": "SH02"}).json()["error"]["code"] == "store_not_allowed"
    assert other.post(f"/api/v1/pickups/{pickup.code}/refuse").status_code == 403
    assert APIClient().get("/api/v1/pickups/", {"store": "SH02"}).status_code == 401
    assert Pickup.objects.get().status == "held"


def test_a_stock_update_through_the_ingestion_api_keeps_the_held_units(shop):
    _hold(shop)
    _, secret = api_key_create(name="ERP", channel=Channel.STORE_POS, stores=[shop["jingan"]], scopes=["stock"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    response = client.post(
        "/api/v1/stock/batch", {"stock": [{"sku": "QM-DR01-BK-M", "store": "SH02", "quantity": 7}]}, format="json"
    )

    assert response.status_code == 200
    assert _stock(shop["jingan"], shop["M"]) == (7, 1)
    xuhui = style_availability(sku="QM-DR01-BK-M", store=shop["here"]).stores[1]
    assert (xuhui.store.code, xuhui.variants[0].available) == ("SH02", 6)


# ---------------------------------------------------------------------------------------------------------------
# The till's scan


def _collect(pos, code, *, store="SH02", request_id="till-1", **extra):
    return pos.post(
        "/api/v1/pickups/collect", {"store": store, "code": code, "request_id": request_id, **extra}, format="json"
    )


def test_collecting_a_hold_records_the_sale_at_the_holding_store_credited_to_the_holder(shop):
    pickup = _hold(shop)
    pos = _pos(stores=[shop["jingan"]])

    response = _collect(pos, pickup.code.lower())
    replay = _collect(pos, pickup.code)

    assert (response.status_code, replay.status_code) == (201, 200)
    body = response.json()
    assert body["pickup"]["status"] == "collected" and body["replayed"] is False and replay.json()["replayed"]
    assert body["order"] == {"external_id": f"PU-{pickup.code}", "total_amount": "1699.00", "store": "SH02"}
    assert body["credited"] == {"associate": "linyu", "store": "SH02"}
    assert _stock(shop["jingan"], shop["M"]) == (1, 0)
    order = Order.objects.get()
    assert (order.channel, order.store, order.customer, order.total_amount) == (
        Channel.STORE_POS,
        shop["jingan"],
        shop["customer"],
        Decimal("1699.00"),
    )
    assert [(line.product.sku, line.quantity) for line in order.lines.all()] == [("QM-DR01-BK-M", 1)]

    attribution_refresh()

    credited = Attribution.objects.get(order=order)
    assert (credited.associate, credited.store, credited.amount, credited.touch_kind) == (
        shop["linyu"],
        shop["jingan"],
        Decimal("1699.00"),
        TouchKind.PICKUP,
    )
    assert Notice.objects.filter(associate=shop["linyu"], kind=Notice.Kind.SALE).count() == 1


def test_collecting_links_the_pos_order_the_till_names_and_re_credits_it(shop):
    pickup = _hold(shop)
    cashier = AssociateFactory(store=shop["jingan"])
    order = OrderFactory(
        channel=Channel.STORE_POS,
        external_id="POS-88",
        store=shop["jingan"],
        customer=None,
        associate=cashier,
        total_amount=Decimal("1599.00"),
    )
    attribution_refresh()
    assert Attribution.objects.get(order=order).associate == cashier

    response = _collect(_pos(), pickup.code, order="POS-88")
    attribution_refresh()

    assert response.status_code == 201 and response.json()["order"]["external_id"] == "POS-88"
    order.refresh_from_db()
    assert order.customer == shop["customer"] and Order.objects.count() == 1
    credited = Attribution.objects.get(order=order)
    assert (credited.associate, credited.store, credited.touch_kind) == (shop["linyu"], shop["jingan"], "pickup")


@pytest.mark.parametrize(
    ("setup", "store", "code", "status", "error"),
    [
        ("none", "SH02", "NOPE2345", 404, "unknown_code"),
        ("none", "SH01", None, 409, "wrong_store"),
        ("none", "XX99", None, 404, "unknown_store"),
        ("expire", "SH02", None, 409, "pickup_expired"),
        ("cancel", "SH02", None, 409, "pickup_cancelled"),
        ("collect", "SH02", None, 409, "pickup_collected"),
    ],
)
def test_a_refused_collect_answers_its_code_and_changes_nothing(shop, setup, store, code, status, error):
    pickup = _hold(shop)
    pos = _pos()
    if setup == "expire":
        holds_expire(now=timezone.now() + dt.timedelta(days=2))
    elif setup == "cancel":
        _signed_in(shop["linyu"]).post(f"/api/v1/sidebar/holds/{pickup.pk}/cancel/")
    elif setup == "collect":
        assert _collect(pos, pickup.code, request_id="first").status_code == 201
    stock, orders = _stock(shop["jingan"], shop["M"]), Order.objects.count()

    response = _collect(pos, code or pickup.code, store=store)

    assert response.status_code == status and response.json()["error"]["code"] == error
    assert _stock(shop["jingan"], shop["M"]) == stock and Order.objects.count() == orders


def test_a_collect_after_the_hours_but_before_the_beat_still_collects_and_the_beat_then_leaves_it(shop):
    pickup = _hold(shop, hours=1)
    later = timezone.now() + dt.timedelta(hours=3)

    assert _collect(_pos(), pickup.code).status_code == 201
    assert holds_expire(now=later) == 0
    assert Pickup.objects.get().status == "collected" and _stock(shop["jingan"], shop["M"]) == (1, 0)


def test_a_request_id_reused_for_another_code_is_refused(shop):
    first, second = _hold(shop), _hold(shop, request_id="h-2")
    pos = _pos()
    _collect(pos, first.code, request_id="same")

    response = _collect(pos, second.code, request_id="same")

    assert response.status_code == 409 and response.json()["error"]["code"] == "request_id_reused"
    assert Pickup.objects.get(pk=second.pk).status == "held"


def test_a_bopis_pickup_is_collected_generically_and_its_online_order_credited_to_the_pickup(shop):
    online = OrderFactory(
        channel=Channel.MINI_PROGRAM,
        external_id="MP-1",
        store=None,
        customer=shop["customer"],
        total_amount=Decimal("899.00"),
        fulfilment=Order.Fulfilment.STORE_PICKUP,
    )
    pickup = Pickup.objects.create(
        kind=Pickup.Kind.ORDER,
        status=Pickup.Status.READY,
        code="BOPIS234",
        token="t" * 24,
        store=shop["jingan"],
        customer=shop["customer"],
        associate=shop["other"],
        order=online,
        request_id="MP-1",
        expires_at=timezone.now() + dt.timedelta(days=3),
    )

    response = _collect(_pos(), "BOPIS234")
    attribution_refresh()

    assert response.status_code == 201 and response.json()["order"]["external_id"] == "MP-1"
    pickup.refresh_from_db()
    assert pickup.status == "collected" and Order.objects.count() == 1
    credited = Attribution.objects.get(order=online)
    assert (credited.associate, credited.store) == (shop["other"], shop["jingan"])
    assert _stock(shop["jingan"], shop["M"]) == (2, 0)


def _coupon_for(customer, associate):
    from coupons.sending import coupon_pack_send
    from tests.factories import CouponPackItemFactory, CouponTemplateFactory

    item = CouponPackItemFactory(template=CouponTemplateFactory())
    sent = coupon_pack_send(pack_id=item.pack_id, customer_id=customer.pk, request_no="send-1", associate=associate)
    return sent.coupons[0]


def test_a_coupon_is_redeemed_on_the_collected_sale_in_the_same_visit(shop):
    from coupons.models import Coupon, Redemption

    pickup = _hold(shop)
    coupon = _coupon_for(shop["customer"], shop["linyu"])

    response = _collect(_pos(stores=[shop["jingan"]]), pickup.code, coupon=coupon.code)

    assert response.status_code == 201, response.content
    assert response.json()["coupon"] == {"code": coupon.code, "discount": "50.00"}
    redemption = Redemption.objects.get()
    assert (redemption.order_ref, redemption.amount, redemption.store) == (
        f"PU-{pickup.code}",
        Decimal("1699.00"),
        shop["jingan"],
    )
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED


def test_a_refused_coupon_leaves_the_hold_uncollected(shop):
    from coupons.models import Redemption

    pickup = _hold(shop)

    response = _collect(_pos(), pickup.code, coupon="NOSUCHCOUPON")

    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_code"
    assert Pickup.objects.get().status == "held" and not Order.objects.exists() and not Redemption.objects.exists()
    assert _stock(shop["jingan"], shop["M"]) == (2, 1)


def test_the_pickup_admin_shows_a_manager_only_her_stores_holds(shop, client):
    from tests.factories import UserFactory

    mine, theirs = _hold(shop), _hold(shop, request_id="h-2", store="SZ01")
    user = UserFactory(is_superuser=True)
    client.force_login(user)
    page = client.get("/admin/fulfilment/pickup/?open=open").content.decode()
    assert mine.code in page and theirs.code in page and "真丝连衣裙 黑色 M（M） × 1" in page

    manager = UserFactory(is_superuser=False)
    from django.contrib.auth.models import Permission

    manager.user_permissions.add(Permission.objects.get(codename="view_pickup"))
    shop["jingan"].managers.add(manager)
    client.force_login(manager)
    page = client.get("/admin/fulfilment/pickup/").content.decode()
    assert mine.code in page and theirs.code not in page
    assert client.get(f"/admin/fulfilment/pickup/{theirs.pk}/change/").status_code in (302, 404)
