"""API keys act only on what they own: a key's stores and channel are checked against the redemption, the order or
the catalogue it touches, a request number answers its result only to the key that made it, and each operation
needs its scope (catalogue only on a key not limited to stores)."""

import importlib
import re
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from coupons.models import Coupon, CouponOrder, Redemption
from coupons.sending import coupon_pack_send
from customers.ingestion import api_key_create
from customers.models import ApiKey, Channel, Customer, Order, Product, StoreStock
from omni.errors import ApplicationError
from tests.factories import (
    AssociateFactory,
    CouponPackItemFactory,
    CustomerFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

VALIDATE, REDEEM, RETURN = "/api/v1/coupons/validate/", "/api/v1/coupons/redeem/", "/api/v1/coupons/return/"


@pytest.fixture
def brand():
    """Stores SH01 and BJ01, a coupon sent by SH01's associate lina, usable at any store."""
    sh01, bj01 = StoreFactory(code="SH01", name="静安店"), StoreFactory(code="BJ01", name="三里屯店")
    item = CouponPackItemFactory()
    coupon = coupon_pack_send(
        pack_id=item.pack_id,
        customer_id=CustomerFactory().pk,
        request_no="send-1",
        associate=AssociateFactory(wecom_userid="lina", store=sh01),
    ).coupons[0]
    return sh01, bj01, coupon


def _client(*, channel=Channel.STORE_POS, stores=(), **scopes) -> APIClient:
    _, secret = api_key_create(name="POS", channel=channel, stores=stores, **scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def _redeem_body(coupon, *, store="SH01", order_ref="POS-SH-1", request_no="R-SH-1") -> dict:
    return {"code": coupon.code, "store": store, "order_ref": order_ref, "amount": "399.00", "request_no": request_no}


# The findings --------------------------------------------------------------------------------------------------------


def test_finding2_key_of_another_store_cannot_return_a_redemption(brand):
    sh01, bj01, coupon = brand
    assert _client(stores=[sh01]).post(REDEEM, _redeem_body(coupon), format="json").status_code == 201
    bj01_key = _client(stores=[bj01])
    unknown = bj01_key.post(
        RETURN, {"code": coupon.code, "store": "BJ01", "order_ref": "POS-NOPE", "request_no": "RT-0"}, format="json"
    )

    response = bj01_key.post(
        RETURN, {"code": coupon.code, "store": "BJ01", "order_ref": "POS-SH-1", "request_no": "RT-1"}, format="json"
    )
    again = bj01_key.post(
        REDEEM, _redeem_body(coupon, store="BJ01", order_ref="POS-BJ-1", request_no="R-BJ-1"), format="json"
    )

    # The same answer as for an order reference that was never used: nothing says the SH01 redemption exists.
    assert (response.status_code, unknown.status_code) == (409, 409)
    assert (
        response.json()
        == unknown.json()
        == {"error": {"code": "wrong_order", "message": "这张券不是在这笔订单上使用的。"}}
    )
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
    assert list(Redemption.objects.values_list("kind", "order_ref")) == [("redeem", "POS-SH-1")]
    assert CouponOrder.objects.get(order_ref="POS-SH-1").coupons == 1
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_redeemed")


@pytest.mark.parametrize("amount", ["399.00", 399], ids=["till-fast-path", "drf-path"])
def test_finding3_request_no_replayed_by_another_key_is_409_without_the_first_body(brand, amount):
    sh01, bj01, coupon = brand
    first = _client(stores=[sh01]).post(REDEEM, _redeem_body(coupon), format="json")

    response = _client(stores=[bj01]).post(
        REDEEM, {**_redeem_body(coupon, store="BJ01"), "amount": amount}, format="json"
    )

    assert first.status_code == 201
    assert response.status_code == 409
    assert response.json() == {"error": {"code": "request_no_reused", "message": "这个请求号已用于另一次核销或退回。"}}
    for revealing in ("POS-SH-1", "399", "lina", "SH01"):
        assert revealing not in response.content.decode()
    assert Redemption.objects.count() == 1


def test_finding3_a_return_number_replayed_by_another_key_is_409_without_the_first_body(brand):
    sh01, _, coupon = brand
    sh01_key = _client(stores=[sh01])
    sh01_key.post(REDEEM, _redeem_body(coupon), format="json")
    back = {"code": coupon.code, "store": "SH01", "order_ref": "POS-SH-1", "request_no": "RT-1"}
    assert sh01_key.post(RETURN, back, format="json").status_code == 201

    response = _client(stores=[sh01]).post(RETURN, back, format="json")

    assert response.status_code == 409
    assert response.json() == {"error": {"code": "request_no_reused", "message": "这个请求号已用于另一次核销或退回。"}}
    assert Redemption.objects.filter(kind="return").count() == 1


def test_finding4_store_key_cannot_rewrite_the_catalogue(brand):
    sh01, _, _ = brand
    ProductFactory(sku="DRESS-1", name="真丝连衣裙", price=Decimal("899.00"))

    response = _client(stores=[sh01]).post(
        "/api/v1/products/batch",
        {"products": [{"sku": "DRESS-1", "name": "真丝连衣裙", "price": "0.01", "is_active": False}]},
        format="json",
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"
    product = Product.objects.get(sku="DRESS-1")
    assert (product.price, product.is_active) == (Decimal("899.00"), True)


# Scopes, endpoint by endpoint ----------------------------------------------------------------------------------------

ALL_SCOPES = ["catalogue", "members", "orders", "coupons", "stock"]


def _state(coupon) -> tuple:
    """Everything an API call could write."""
    return (
        Customer.objects.count(),
        Product.objects.count(),
        StoreStock.objects.count(),
        Order.objects.count(),
        Redemption.objects.count(),
        Coupon.objects.get(pk=coupon.pk).status,
    )


def _members(coupon):
    return "/api/v1/members/batch", {"members": [{"external_id": "M-1", "name": "王芳"}]}, 200


def _products(coupon):
    return "/api/v1/products/batch", {"products": [{"sku": "NEW-1", "name": "围巾", "price": "99.00"}]}, 200


def _stock(coupon):
    ProductFactory(sku="DRESS-1")
    return "/api/v1/stock/batch", {"stock": [{"sku": "DRESS-1", "store": "SH01", "quantity": 3}]}, 200


def _orders(coupon):
    ProductFactory(sku="DRESS-1")
    line = {"sku": "DRESS-1", "quantity": 1, "unit_price": "899.00"}
    order = {"external_id": "O-1", "placed_at": "2026-10-01T14:30:00+08:00", "store": "SH01", "lines": [line]}
    return "/api/v1/orders/batch", {"orders": [order]}, 200


def _validate(coupon):
    return VALIDATE, _redeem_body(coupon), 200


def _redeem_fast(coupon):
    return REDEEM, _redeem_body(coupon), 201


def _redeem_drf(coupon):
    return REDEEM, {**_redeem_body(coupon), "amount": 399}, 201


def _return(coupon):
    _client(scopes=["coupons"]).post(REDEEM, _redeem_body(coupon, request_no="R-0"), format="json")
    return RETURN, {"code": coupon.code, "store": "SH01", "order_ref": "POS-SH-1", "request_no": "RT-1"}, 201


ENDPOINTS = [
    ("members", _members),
    ("catalogue", _products),
    ("stock", _stock),
    ("orders", _orders),
    ("coupons", _validate),
    ("coupons", _redeem_fast),
    ("coupons", _redeem_drf),
    ("coupons", _return),
]


@pytest.mark.parametrize(("scope", "endpoint"), ENDPOINTS, ids=[e.__name__[1:] for _, e in ENDPOINTS])
def test_a_key_without_the_operations_scope_is_403_scope_missing_and_changes_nothing(brand, scope, endpoint):
    _, _, coupon = brand
    url, body, _ = endpoint(coupon)
    before = _state(coupon)

    response = _client(scopes=[s for s in ALL_SCOPES if s != scope]).post(url, body, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"
    assert scope in response.json()["error"]["message"]
    assert _state(coupon) == before


@pytest.mark.parametrize(("scope", "endpoint"), ENDPOINTS, ids=[e.__name__[1:] for _, e in ENDPOINTS])
def test_a_key_with_only_the_operations_scope_may_call_it(brand, scope, endpoint):
    _, _, coupon = brand
    url, body, status = endpoint(coupon)

    response = _client(scopes=[scope]).post(url, body, format="json")

    assert response.status_code == status, response.content


def test_a_key_with_no_scope_may_do_nothing_yet_is_still_authenticated(brand):
    _, _, coupon = brand

    response = _client(scopes=[]).post(VALIDATE, _redeem_body(coupon), format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (403, "scope_missing")


def test_a_store_key_holding_catalogue_in_its_row_is_still_refused_the_catalogue(brand):
    sh01, _, _ = brand
    api_key, secret = api_key_create(name="POS", channel=Channel.STORE_POS, stores=[sh01])
    ApiKey.objects.filter(pk=api_key.pk).update(scopes=ALL_SCOPES)  # as a hand-edited row might say
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    response = client.post(
        "/api/v1/products/batch", {"products": [{"sku": "NEW-1", "name": "围巾", "price": "0.01"}]}, format="json"
    )

    assert (response.status_code, response.json()["error"]["code"]) == (403, "scope_missing")
    assert not Product.objects.filter(sku="NEW-1").exists()


def test_a_new_key_may_do_what_its_stores_allow_by_default(brand):
    sh01, _, _ = brand

    store_key, _ = api_key_create(name="POS", channel=Channel.STORE_POS, stores=[sh01])
    brand_key, _ = api_key_create(name="Mall", channel=Channel.ONLINE_MALL)

    assert store_key.scopes == ["members", "orders", "coupons", "stock", "pickups"]
    assert brand_key.scopes == ["catalogue", "members", "orders", "coupons", "stock", "pickups"]


def test_catalogue_cannot_be_granted_to_a_key_limited_to_stores_nor_an_unknown_scope(brand):
    sh01, _, _ = brand

    with pytest.raises(ApplicationError) as brand_wide:
        api_key_create(name="POS", channel=Channel.STORE_POS, stores=[sh01], scopes=["catalogue", "coupons"])
    with pytest.raises(ApplicationError) as unknown:
        api_key_create(name="POS", channel=Channel.STORE_POS, scopes=["everything"])

    assert brand_wide.value.code == "scope_needs_all_stores"
    assert unknown.value.code == "invalid_scope"
    assert ApiKey.objects.count() == 0


# The object's stores and channel ----------------------------------------------------------------------------------


def test_a_mall_key_cannot_return_a_redemption_made_by_the_mini_program(brand):
    _, _, coupon = brand
    _client(channel=Channel.MINI_PROGRAM).post(REDEEM, _redeem_body(coupon, store=""), format="json")
    back = {"code": coupon.code, "order_ref": "POS-SH-1", "request_no": "RT-1"}

    response = _client(channel=Channel.ONLINE_MALL).post(RETURN, back, format="json")
    own = _client(channel=Channel.MINI_PROGRAM).post(RETURN, {**back, "request_no": "RT-2"}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "wrong_order")
    assert own.status_code == 201
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.ISSUED


def test_a_key_of_both_stores_or_of_every_store_may_return_a_redemption_of_either(brand):
    sh01, bj01, coupon = brand
    _client(stores=[sh01]).post(REDEEM, _redeem_body(coupon), format="json")
    back = {"code": coupon.code, "store": "BJ01", "order_ref": "POS-SH-1", "request_no": "RT-1"}

    response = _client(stores=[sh01, bj01]).post(RETURN, back, format="json")

    assert response.status_code == 201
    assert response.json()["store"] == "SH01"  # the redemption's store, where the sale was
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.ISSUED


def test_the_same_key_replaying_its_request_no_still_gets_the_first_result(brand):
    sh01, _, coupon = brand
    client = _client(stores=[sh01])
    first = client.post(REDEEM, _redeem_body(coupon), format="json")

    again = client.post(REDEEM, _redeem_body(coupon), format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


def test_a_store_key_cannot_change_an_order_recorded_for_another_store(brand):
    sh01, bj01, _ = brand
    ProductFactory(sku="DRESS-1")
    line = {"sku": "DRESS-1", "quantity": 1, "unit_price": "899.00"}
    order = {"external_id": "O-BJ-1", "placed_at": "2026-10-01T14:30:00+08:00", "store": "BJ01", "lines": [line]}
    _client(stores=[bj01]).post("/api/v1/orders/batch", {"orders": [order]}, format="json")

    response = _client(stores=[sh01]).post(
        "/api/v1/orders/batch", {"orders": [{**order, "store": "SH01", "status": "returned"}]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["results"][0]["errors"] == [
        {
            "field": "store",
            "code": "store_not_allowed",
            "message": "This order was recorded for a store this API key may not write.",
        }
    ]
    recorded = Order.objects.get(external_id="O-BJ-1")
    assert (recorded.status, recorded.store) == (Order.Status.COMPLETED, bj01)


@pytest.mark.postgres
def test_the_tills_redemption_checks_scope_and_store_without_another_round_trip(brand):
    sh01, _, coupon = brand
    client = _client(stores=[sh01])
    client.post(VALIDATE, _redeem_body(coupon), format="json")  # the key's last use is recorded: not on the next call

    with CaptureQueriesContext(connection) as captured:
        response = client.post(REDEEM, _redeem_body(coupon), format="json")

    # Without REDIS_URL the throttle's cache read is a query of the database cache table: not the till's work.
    sqls = [str(q["sql"]) for q in captured.captured_queries]
    statements = [sql for sql in sqls if "SAVEPOINT" not in sql and "omni_cache" not in sql]
    assert response.status_code == 201
    # The key with its scopes and the till's store, the coupon with its template, the guarded write.
    assert len(statements) == 3


# Keys made before scopes ------------------------------------------------------------------------------------------


def test_the_migration_gives_existing_keys_what_they_could_do_except_the_catalogue_for_store_keys(brand):
    sh01, _, _ = brand
    store_key, _ = api_key_create(name="POS", channel=Channel.STORE_POS, stores=[sh01], scopes=[])
    brand_key, _ = api_key_create(name="Mall", channel=Channel.ONLINE_MALL, scopes=[])
    migration = importlib.import_module("customers.migrations.0007_apikey_scopes")

    migration.scopes_grant(django_apps, None)

    assert ApiKey.objects.get(pk=store_key.pk).scopes == ["members", "orders", "coupons"]
    assert ApiKey.objects.get(pk=brand_key.pk).scopes == ["catalogue", "members", "orders", "coupons"]


# Admin --------------------------------------------------------------------------------------------------------------


def test_admin_sets_scopes_and_refuses_catalogue_for_a_key_limited_to_stores(brand, client):
    sh01, _, _ = brand
    client.force_login(UserFactory(username="root", is_superuser=True))
    form = {"name": "上海POS", "channel": "store_pos", "stores": [sh01.pk], "is_active": "on"}

    refused = client.post("/admin/customers/apikey/add/", {**form, "scopes": ["catalogue", "coupons"]})
    made = client.post("/admin/customers/apikey/add/", {**form, "scopes": ["coupons"]}, follow=True)
    api_key = ApiKey.objects.get()
    edited = client.post(
        f"/admin/customers/apikey/{api_key.pk}/change/", {**form, "stores": [], "scopes": ["catalogue", "orders"]}
    )

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {
        "scopes": [
            "权限范围 catalogue 会改写全品牌的数据，只能授予不限门店的密钥"
            "（限定门店的密钥不能改写商品目录；本店库存用 stock 权限）。"
        ]
    }
    assert made.status_code == 200
    assert "接口密钥只显示这一次" in made.content.decode()
    assert edited.status_code == 302
    api_key.refresh_from_db()
    assert (api_key.scopes, api_key.stores.count()) == (["catalogue", "orders"], 0)


def test_admin_add_form_offers_the_scopes_a_store_key_may_hold(client, db):
    client.force_login(UserFactory(username="root", is_superuser=True))

    html = client.get("/admin/customers/apikey/add/").content.decode()

    for scope in ("members", "orders", "coupons", "stock"):
        assert re.search(rf'value="{scope}"[^>]*checked', html)
    assert not re.search(r'value="catalogue"[^>]*checked', html)
