"""Ingestion API: authentication, idempotency by natural key, per-row errors that never lose good rows."""

from decimal import Decimal

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from customers.ingestion import api_key_create
from customers.models import Channel, Customer, Identity, IdentityConflict, Order, OrderLine, Product, StoreStock
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, ProductFactory, StoreFactory


def _client(channel=Channel.STORE_POS, stores=()):
    _, secret = api_key_create(name="POS", channel=channel, stores=stores)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def _counts():
    return (
        Customer.objects.count(),
        Identity.objects.count(),
        Order.objects.count(),
        OrderLine.objects.count(),
        Product.objects.count(),
        StoreStock.objects.count(),
    )


def _order(external_id="P1", store="SH01", lines=None, **extra):
    return {
        "external_id": external_id,
        "placed_at": "2026-10-01T14:30:00+08:00",
        "store": store,
        "lines": lines or [{"sku": "DRESS-1", "quantity": 1, "unit_price": "899.00", "discount": "50.00"}],
        **extra,
    }


@pytest.fixture
def shop(db):
    store = StoreFactory(code="SH01")
    ProductFactory(sku="DRESS-1", price=Decimal("899.00"))
    ProductFactory(sku="BELT-1", price=Decimal("199.00"))
    return store


# Authentication ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_missing_key_is_401_and_writes_nothing(shop):
    response = APIClient().post("/api/v1/orders/batch", {"orders": [_order()]}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_wrong_secret_is_401_with_a_stable_code(shop):
    api_key, _ = api_key_create(name="POS", channel=Channel.STORE_POS)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key.prefix}.wrong")

    response = client.post("/api/v1/orders/batch", {"orders": [_order()]}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.django_db
def test_deactivated_key_is_refused(shop):
    api_key, secret = api_key_create(name="POS", channel=Channel.STORE_POS)
    api_key.is_active = False
    api_key.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    response = client.post("/api/v1/orders/batch", {"orders": [_order()]}, format="json")

    assert response.status_code == 401


# Orders --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_orders_are_recorded_with_exact_totals_and_a_replay_changes_nothing(shop):
    client = _client()
    associate = AssociateFactory(store=shop, wecom_userid="linyu")
    batch = {
        "orders": [
            _order("P1", customer={"member_id": "M001", "name": "林小雨"}, associate="linyu"),
            _order(
                "P2",
                lines=[
                    {"sku": "DRESS-1", "quantity": 2, "unit_price": "899.00"},
                    {"sku": "BELT-1", "quantity": 1, "unit_price": "199.00", "discount": "19.90"},
                ],
            ),
        ]
    }

    first = client.post("/api/v1/orders/batch", batch, format="json")

    assert first.status_code == 200, first.json()
    assert first.json()["summary"] == {"created": 2, "updated": 0, "unchanged": 0, "error": 0}
    p1 = Order.objects.get(external_id="P1")
    assert p1.total_amount == Decimal("849.00")
    assert (p1.channel, p1.store_id, p1.associate_id) == (Channel.STORE_POS, shop.pk, associate.pk)
    assert p1.customer.identities.get().value == "M001"
    assert p1.customer.name == "林小雨"
    p2 = Order.objects.get(external_id="P2")
    assert p2.total_amount == Decimal("1977.10")
    assert p2.customer_id is None  # anonymous sale
    assert list(p2.lines.order_by("line_no").values_list("line_no", "quantity")) == [(1, 2), (2, 1)]
    counts = _counts()

    replay = client.post("/api/v1/orders/batch", batch, format="json")

    assert replay.status_code == 200
    assert replay.json()["summary"] == {"created": 0, "updated": 0, "unchanged": 2, "error": 0}
    assert [row["id"] for row in replay.json()["results"]] == [p1.pk, p2.pk]
    assert _counts() == counts


@pytest.mark.django_db
def test_a_bad_row_is_reported_with_index_field_and_code_and_good_rows_are_written(shop):
    client = _client()
    batch = {
        "orders": [
            _order("OK1"),
            _order("BAD1", lines=[{"sku": "DRESS-1", "quantity": 0, "unit_price": "-1"}]),
            _order(
                "BAD2",
                lines=[
                    {"sku": "DRESS-1", "quantity": 1, "unit_price": "1"},
                    {"sku": "NOPE", "quantity": 1, "unit_price": "1"},
                ],
            ),
            _order("OK2"),
            "not an object",
            _order("OK1"),
        ]
    }

    response = client.post("/api/v1/orders/batch", batch, format="json")

    assert response.status_code == 207
    results = response.json()["results"]
    assert [row["status"] for row in results] == ["created", "error", "error", "created", "error", "error"]
    assert {(e["field"], e["code"]) for e in results[1]["errors"]} == {
        ("lines[0].quantity", "zero_quantity"),
        ("lines[0].unit_price", "min_value"),
    }
    assert results[2]["errors"] == [
        {"field": "lines[1].sku", "code": "unknown_sku", "message": "No product with sku 'NOPE'."}
    ]
    assert results[4]["errors"][0]["code"] == "invalid"
    assert results[5]["errors"][0]["code"] == "duplicate_in_batch"
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["OK1", "OK2"]
    assert OrderLine.objects.count() == 2


@pytest.mark.django_db
def test_a_batch_where_every_row_fails_is_400_and_writes_nothing(shop):
    response = _client().post("/api/v1/orders/batch", {"orders": [_order(store="NOPE")]}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "all_rows_invalid"
    assert body["results"][0]["errors"][0] == {
        "field": "store",
        "code": "unknown_store",
        "message": "No store with code 'NOPE'.",
    }
    assert _counts()[2:4] == (0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"orders": []}, {"orders": "x"}, ["x"]])
def test_a_malformed_envelope_is_400(shop, body):
    response = _client().post("/api/v1/orders/batch", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


@pytest.mark.django_db
def test_unparseable_json_is_400(shop):
    response = _client().post("/api/v1/orders/batch", "{nope", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


@pytest.mark.django_db
@override_settings(OMNI_INGEST_MAX_BATCH=3)
def test_a_batch_over_the_limit_is_refused_whole(shop):
    response = _client().post("/api/v1/orders/batch", {"orders": [_order(f"P{i}") for i in range(4)]}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "batch_too_large"
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_a_status_change_updates_the_order_but_changed_lines_are_refused(shop):
    client = _client()
    client.post("/api/v1/orders/batch", {"orders": [_order("P1")]}, format="json")

    returned = client.post("/api/v1/orders/batch", {"orders": [_order("P1", status="returned")]}, format="json")
    relined = client.post(
        "/api/v1/orders/batch",
        {"orders": [_order("P1", lines=[{"sku": "BELT-1", "quantity": 1, "unit_price": "199.00"}])]},
        format="json",
    )

    assert returned.json()["results"][0]["status"] == "updated"
    assert Order.objects.get(external_id="P1").status == Order.Status.RETURNED
    assert relined.status_code == 400
    assert relined.json()["results"][0]["errors"][0]["code"] == "order_lines_changed"
    assert list(OrderLine.objects.values_list("product__sku", flat=True)) == ["DRESS-1"]


@pytest.mark.django_db
def test_a_key_scoped_to_one_store_cannot_write_for_another(shop):
    other = StoreFactory(code="BJ01")
    client = _client(stores=[shop])

    response = client.post("/api/v1/orders/batch", {"orders": [_order("P1", store=other.code)]}, format="json")

    assert response.json()["results"][0]["errors"][0]["code"] == "store_not_allowed"
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_pos_orders_need_a_store(shop):
    response = _client().post("/api/v1/orders/batch", {"orders": [_order("P1", store="")]}, format="json")

    assert response.json()["results"][0]["errors"][0]["code"] == "store_required"


@pytest.mark.django_db
def test_an_order_links_to_the_existing_customer_by_any_known_identity(shop):
    customer = CustomerFactory()
    IdentityFactory(customer=customer, kind=Identity.Kind.PHONE, value="+8613812345678")
    client = _client(channel=Channel.ONLINE_MALL)

    response = client.post(
        "/api/v1/orders/batch",
        {"orders": [_order("W1", store="", customer={"phone": "138-1234-5678"})]},
        format="json",
    )

    assert response.status_code == 200
    order = Order.objects.get()
    assert (order.customer_id, order.fulfilment) == (customer.pk, Order.Fulfilment.DELIVERY)
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_an_order_with_an_invalid_customer_phone_is_a_row_error(shop):
    response = _client().post(
        "/api/v1/orders/batch", {"orders": [_order("P1", customer={"phone": "12"})]}, format="json"
    )

    assert response.json()["results"][0]["errors"][0]["code"] == "invalid_phone"
    assert _counts()[:3] == (0, 0, 0)


# Members -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_members_resolve_to_one_id_customers_idempotently(shop):
    client = _client(channel=Channel.MINI_PROGRAM)
    batch = {
        "members": [
            {
                "external_id": "oMP_1",
                "name": "陈静",
                "phone": "13812345678",
                "store": "SH01",
                "identities": [{"kind": "wechat_unionid", "value": "o6_1"}],
                "marketing_consent": True,
            },
            {"external_id": "oMP_2", "phone": "not a phone"},
            {"external_id": "oMP_3", "gender": "robot"},
        ]
    }

    first = client.post("/api/v1/members/batch", batch, format="json")

    assert first.status_code == 207
    results = first.json()["results"]
    assert [row["status"] for row in results] == ["created", "error", "error"]
    assert results[1]["errors"][0]["code"] == "invalid_phone"
    assert results[2]["errors"][0]["field"] == "gender"
    customer = Customer.objects.get()
    assert (customer.name, customer.phone, customer.primary_store_id, customer.marketing_consent) == (
        "陈静",
        "+8613812345678",
        shop.pk,
        True,
    )
    assert sorted(customer.identities.values_list("kind", flat=True)) == [
        "mini_program_openid",
        "phone",
        "wechat_unionid",
    ]
    counts = _counts()

    replay = client.post("/api/v1/members/batch", batch, format="json")

    assert [row["status"] for row in replay.json()["results"]] == ["unchanged", "error", "error"]
    assert _counts() == counts


@pytest.mark.django_db
def test_a_member_whose_identities_belong_to_two_customers_is_reported_as_a_conflict(shop):
    a, b = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=a, kind=Identity.Kind.POS_MEMBER_NO, value="M1")
    IdentityFactory(customer=b, kind=Identity.Kind.PHONE, value="+8613812345678")

    response = _client().post(
        "/api/v1/members/batch", {"members": [{"external_id": "M1", "phone": "13812345678"}]}, format="json"
    )

    row = response.json()["results"][0]
    assert row["id"] == a.pk
    assert row["errors"][0]["code"] == "identity_conflict"
    assert IdentityConflict.objects.count() == 1
    assert Customer.objects.filter(merged_into__isnull=False).count() == 0


# Products ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_products_and_stock_upsert_by_sku(shop):
    client = _client()  # the catalogue is the brand's: a key not limited to stores
    batch = {
        "products": [
            {
                "sku": "SCARF-1",
                "name": "真丝方巾",
                "category": "scarf",
                "price": "299.00",
                "stock": [{"store": "SH01", "quantity": 4}],
            },
            {"sku": "DRESS-1", "name": "真丝连衣裙", "price": "999.00"},
        ]
    }

    first = client.post("/api/v1/products/batch", batch, format="json")
    replay = client.post("/api/v1/products/batch", batch, format="json")

    assert [row["status"] for row in first.json()["results"]] == ["created", "updated"]
    assert [row["status"] for row in replay.json()["results"]] == ["unchanged", "unchanged"]
    assert Product.objects.get(sku="DRESS-1").price == Decimal("999.00")
    assert StoreStock.objects.get(product__sku="SCARF-1", store=shop).quantity == 4


@pytest.mark.django_db
def test_stock_for_an_unknown_store_is_a_row_error(shop):
    response = _client().post(
        "/api/v1/products/batch",
        {"products": [{"sku": "X", "name": "X", "price": "1.00", "stock": [{"store": "BJ99", "quantity": 1}]}]},
        format="json",
    )

    assert response.json()["results"][0]["errors"][0] == {
        "field": "stock[0].store",
        "code": "unknown_store",
        "message": "No store with code 'BJ99'.",
    }
    assert not Product.objects.filter(sku="X").exists()


@pytest.mark.django_db
def test_a_key_limited_to_stores_cannot_write_products_or_stock_even_for_its_own_store(shop):
    response = _client(stores=[shop]).post(
        "/api/v1/products/batch",
        {"products": [{"sku": "X", "name": "X", "price": "1.00", "stock": [{"store": "SH01", "quantity": 1}]}]},
        format="json",
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"
    assert not Product.objects.filter(sku="X").exists()
    assert StoreStock.objects.count() == 0


# Schema --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served_without_external_assets(client, admin_user):
    client.force_login(admin_user)  # with DEBUG off, for staff and API keys (tests/test_api_docs_access.py)
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/v1/orders/batch" in schema.content
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html
