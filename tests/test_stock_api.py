"""`POST /api/v1/stock/batch`: a store's POS sends its own stock and only its own (scope `stock`), row by row,
idempotent by (sku, store); keys made before the scope keep sending stock (migration 0009)."""

import importlib

import pytest
from django.apps import apps as django_apps
from rest_framework.test import APIClient

from customers.ingestion import api_key_create
from customers.models import ApiKey, Channel, Product, StoreStock
from tests.factories import ProductFactory, StoreFactory
from tests.threads import run_concurrently

pytestmark = pytest.mark.django_db

STOCK = "/api/v1/stock/batch"


@pytest.fixture
def shops():
    """Stores SH01 and BJ01, products DRESS-1 and BELT-1, and BJ01 holding 5 DRESS-1."""
    sh01, bj01 = StoreFactory(code="SH01"), StoreFactory(code="BJ01")
    dress, _ = ProductFactory(sku="DRESS-1"), ProductFactory(sku="BELT-1")
    StoreStock.objects.create(product=dress, store=bj01, quantity=5)
    return sh01, bj01


def _client(*, stores=(), **scopes) -> APIClient:
    _, secret = api_key_create(name="POS", channel=Channel.STORE_POS, stores=stores, **scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def _stock() -> dict[tuple[str, str], int]:
    return {
        (sku, store): quantity
        for sku, store, quantity in StoreStock.objects.values_list("product__sku", "store__code", "quantity")
    }


def test_a_store_key_sends_its_own_stores_stock(shops):
    sh01, _ = shops
    rows = [{"sku": "DRESS-1", "store": "SH01", "quantity": 4}, {"sku": "BELT-1", "store": "SH01", "quantity": 0}]

    response = _client(stores=[sh01]).post(STOCK, {"stock": rows}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"index": 0, "status": "updated", "key": "DRESS-1@SH01"},
            {"index": 1, "status": "updated", "key": "BELT-1@SH01"},
        ],
        "summary": {"created": 0, "updated": 2, "unchanged": 0, "error": 0},
    }
    assert _stock() == {("DRESS-1", "SH01"): 4, ("BELT-1", "SH01"): 0, ("DRESS-1", "BJ01"): 5}


def test_another_stores_row_is_refused_and_nothing_is_written_for_it(shops):
    sh01, _ = shops
    rows = [{"sku": "DRESS-1", "store": "SH01", "quantity": 4}, {"sku": "DRESS-1", "store": "BJ01", "quantity": 0}]

    response = _client(stores=[sh01]).post(STOCK, {"stock": rows}, format="json")

    assert response.status_code == 207
    assert response.json()["results"][1] == {
        "index": 1,
        "status": "error",
        "key": "DRESS-1@BJ01",
        "errors": [
            {"field": "store", "code": "store_not_allowed", "message": "This API key may not write for store 'BJ01'."}
        ],
    }
    assert _stock() == {("DRESS-1", "SH01"): 4, ("DRESS-1", "BJ01"): 5}


def test_a_batch_only_of_another_stores_rows_is_400_and_writes_nothing(shops):
    sh01, _ = shops

    response = _client(stores=[sh01]).post(
        STOCK, {"stock": [{"sku": "BELT-1", "store": "BJ01", "quantity": 9}]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "all_rows_invalid"
    assert response.json()["results"][0]["errors"][0]["code"] == "store_not_allowed"
    assert _stock() == {("DRESS-1", "BJ01"): 5}


def test_a_key_not_limited_to_stores_sends_any_stores_stock(shops):
    response = _client(scopes=["stock"]).post(
        STOCK,
        {"stock": [{"sku": "DRESS-1", "store": code, "quantity": n} for n, code in ((1, "SH01"), (2, "BJ01"))]},
        format="json",
    )

    assert response.status_code == 200
    assert _stock() == {("DRESS-1", "SH01"): 1, ("DRESS-1", "BJ01"): 2}


def test_a_key_without_the_stock_scope_is_403_and_writes_nothing(shops):
    sh01, _ = shops

    response = _client(stores=[sh01], scopes=["members", "orders", "coupons"]).post(
        STOCK, {"stock": [{"sku": "DRESS-1", "store": "SH01", "quantity": 4}]}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_missing"
    assert "stock" in response.json()["error"]["message"]
    assert _stock() == {("DRESS-1", "BJ01"): 5}


def test_a_replay_is_unchanged_and_a_new_quantity_is_updated(shops):
    _, bj01 = shops
    client = _client(stores=[bj01])
    batch = {"stock": [{"sku": sku, "store": "BJ01", "quantity": n} for sku, n in (("DRESS-1", 5), ("BELT-1", 2))]}
    first = client.post(STOCK, batch, format="json")
    written = StoreStock.objects.get(product__sku="BELT-1").updated_at

    replay = client.post(STOCK, batch, format="json")
    changed = client.post(STOCK, {"stock": [{"sku": "DRESS-1", "store": "BJ01", "quantity": 3}]}, format="json")

    assert [row["status"] for row in first.json()["results"]] == ["unchanged", "updated"]
    assert replay.status_code == 200
    assert [row["status"] for row in replay.json()["results"]] == ["unchanged", "unchanged"]
    assert replay.json()["summary"] == {"created": 0, "updated": 0, "unchanged": 2, "error": 0}
    assert StoreStock.objects.get(product__sku="BELT-1").updated_at == written
    assert changed.json()["results"][0]["status"] == "updated"
    assert _stock() == {("DRESS-1", "BJ01"): 3, ("BELT-1", "BJ01"): 2}


def test_bad_rows_are_clear_row_errors_and_the_good_row_is_written(shops):
    sh01, _ = shops
    rows = [
        {"sku": "DRESS-1", "store": "SH01", "quantity": -1},
        {"sku": "DRESS-1", "quantity": 1},
        {"store": "SH01", "quantity": 1},
        {"sku": "DRESS-1", "store": "SH01"},
        {"sku": "NOPE", "store": "SH01", "quantity": 1},
        {"sku": "DRESS-1", "store": "SH99", "quantity": 1},
        {"sku": "DRESS-1", "store": "SH01", "quantity": 2_147_483_648},
        {"sku": "DRESS-1", "store": "SH01", "quantity": "many"},
        "DRESS-1",
        {"sku": "BELT-1", "store": "SH01", "quantity": 7},
        {"sku": "BELT-1", "store": "SH01", "quantity": 8},
    ]

    response = _client(stores=[sh01]).post(STOCK, {"stock": rows}, format="json")

    assert response.status_code == 207
    results = response.json()["results"]
    assert [(r["key"], [(e["field"], e["code"]) for e in r.get("errors", [])]) for r in results] == [
        ("DRESS-1@SH01", [("quantity", "min_value")]),
        ("DRESS-1@", [("store", "required")]),
        ("@SH01", [("sku", "required")]),
        ("DRESS-1@SH01", [("quantity", "required")]),
        ("NOPE@SH01", [("sku", "unknown_sku")]),
        ("DRESS-1@SH99", [("store", "unknown_store")]),
        ("DRESS-1@SH01", [("quantity", "max_value")]),
        ("DRESS-1@SH01", [("quantity", "invalid")]),
        ("", [("", "invalid")]),
        ("BELT-1@SH01", []),
        ("BELT-1@SH01", [("store", "duplicate_in_batch")]),
    ]
    assert results[4]["errors"][0]["message"] == "No product with sku 'NOPE'."
    assert response.json()["summary"] == {"created": 0, "updated": 1, "unchanged": 0, "error": 10}
    assert _stock() == {("BELT-1", "SH01"): 7, ("DRESS-1", "BJ01"): 5}
    assert not Product.objects.filter(sku="NOPE").exists()


@pytest.mark.parametrize("body", [{}, {"stock": []}, {"stock": {"sku": "DRESS-1"}}, [{"sku": "DRESS-1"}]])
def test_a_body_without_a_list_of_stock_rows_is_400_malformed(shops, body):
    response = _client().post(STOCK, body, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "malformed_request")


def test_1001_rows_are_400_and_nothing_is_written(shops):
    sh01, _ = shops
    rows = [{"sku": "DRESS-1", "store": "SH01", "quantity": n} for n in range(1001)]

    response = _client(stores=[sh01]).post(STOCK, {"stock": rows}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "batch_too_large"
    assert _stock() == {("DRESS-1", "BJ01"): 5}


def test_products_batch_refuses_a_stock_quantity_beyond_the_column(shops):
    response = _client(scopes=["catalogue"]).post(
        "/api/v1/products/batch",
        {"products": [{"sku": "X", "name": "X", "price": "1.00", "stock": [{"store": "SH01", "quantity": 2**31}]}]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["results"][0]["errors"][0]["field"] == "stock[0].quantity"
    assert response.json()["results"][0]["errors"][0]["code"] == "max_value"
    assert not Product.objects.filter(sku="X").exists()


def test_the_openapi_schema_documents_the_stock_batch_like_its_siblings(client, admin_user):
    client.force_login(admin_user)
    schema = client.get("/api/schema/?format=json").json()

    operation = schema["paths"]["/api/v1/stock/batch"]["post"]
    assert operation["operationId"] == "stock_batch_upsert"
    assert operation["tags"] == ["ingestion"]
    assert set(operation["responses"]) >= {"200", "207", "400"}
    assert set(schema["components"]["schemas"]["StockRowIn"]["required"]) == {"sku", "store", "quantity"}


# Keys made before the scope ----------------------------------------------------------------------------------------


def test_the_migration_grants_stock_to_keys_that_could_send_it(shops):
    sh01, _ = shops
    store_key, _ = api_key_create(name="POS", channel=Channel.STORE_POS, stores=[sh01], scopes=["coupons"])
    catalogue_key, _ = api_key_create(name="ERP", channel=Channel.STORE_POS, scopes=["catalogue", "members"])
    api_key_create(name="Mall", channel=Channel.ONLINE_MALL, scopes=["orders", "coupons"])
    granted, _ = api_key_create(name="New", channel=Channel.STORE_POS, stores=[sh01], scopes=["stock"])
    migration = importlib.import_module("customers.migrations.0009_apikey_stock_scope")

    migration.stock_grant(django_apps, None)
    migration.stock_grant(django_apps, None)

    assert {key.name: key.scopes for key in ApiKey.objects.all()} == {
        "POS": ["coupons", "stock"],
        "ERP": ["catalogue", "members", "stock"],
        "Mall": ["orders", "coupons"],
        "New": ["stock"],
    }

    migration.stock_revoke(django_apps, None)

    assert ApiKey.objects.get(pk=store_key.pk).scopes == ["coupons"]
    assert ApiKey.objects.get(pk=catalogue_key.pk).scopes == ["catalogue", "members"]
    assert ApiKey.objects.get(pk=granted.pk).scopes == []


# Concurrency --------------------------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_8_tills_sending_the_first_stock_of_a_sku_at_once_all_succeed_with_one_row():
    store = StoreFactory(code="SH01")
    ProductFactory(sku="DRESS-1")
    _, secret = api_key_create(name="POS", channel=Channel.STORE_POS, stores=[store])

    def send(quantity: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
        response = client.post(
            STOCK, {"stock": [{"sku": "DRESS-1", "store": "SH01", "quantity": quantity}]}, format="json"
        )
        return response.status_code

    answers = run_concurrently(send, each=range(8))

    assert answers == [200] * 8
    assert StoreStock.objects.count() == 1
