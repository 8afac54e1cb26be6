"""The suggestion endpoints of the sidebar API, the products API's style and online stock, and the admin of
complement rules, model builds and outreach."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from customers.ingestion import api_key_create
from customers.models import Channel, Product
from sidebar.suggestion_apis import OutreachOut, SuggestionsOut
from suggestions import selectors
from suggestions.models import ComplementRule, Outreach, SuggestionModel
from suggestions.services import suggestion_model_build
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
    StoreStockFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_caches():
    selectors.suggestion_caches_clear()
    yield
    selectors.suggestion_caches_clear()


def _sign_in(client, associate):
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


def _buy(customer, *products, days_ago: int):
    order = OrderFactory(customer=customer, placed_at=timezone.now() - timedelta(days=days_ago))
    for line_no, product in enumerate(products, start=1):
        OrderLineFactory(order=order, line_no=line_no, product=product)


@pytest.fixture
def world():
    store, other_store = StoreFactory(code="SH01", name="上海静安店"), StoreFactory(code="BJ01", name="北京三里屯店")
    dress = ProductFactory(sku="DR1-M", name="真丝连衣裙 M", category="dress", style_code="DR1")
    belt = ProductFactory(
        sku="BT1", name="牛皮腰带", category="belt", image_url="https://img.example/bt1.jpg", online_stock=12
    )
    scarf = ProductFactory(sku="SF1", name="真丝方巾", category="scarf")
    for product, quantity in ((dress, 3), (belt, 0), (scarf, 5)):
        StoreStockFactory(store=store, product=product, quantity=quantity)
    for n in range(12):
        _buy(CustomerFactory(primary_store=store), dress, belt, scarf, days_ago=50 + n)
    customer = CustomerFactory(name="陈静", primary_store=store)
    _buy(customer, dress, days_ago=30)
    return {
        "store": store,
        "associate": AssociateFactory(store=store, name="林雨"),
        "customer": customer,
        "stranger": CustomerFactory(name="北京客户", primary_store=other_store),
        "belt": belt,
    }


def _conforms(serializer, body) -> None:
    """`body` has exactly the fields `serializer` documents in the OpenAPI schema, each of a valid type."""
    data = serializer(data=body)
    assert data.is_valid(), data.errors
    for name, field in serializer().fields.items():
        nested = getattr(field, "child", field)
        if isinstance(nested, serializers.Serializer):
            for item in body[name] if isinstance(field, serializers.ListSerializer) else [body[name]]:
                _conforms(type(nested), item)
    assert set(body) == set(serializer().fields)


# ---------------------------------------------------------------------------------------------------------
# Suggestions and add-ons


def test_a_customers_suggestions_come_with_stock_and_reasons(client, world):
    build = suggestion_model_build()
    _sign_in(client, world["associate"])

    response = client.get(f"/api/v1/sidebar/customers/{world['customer'].pk}/suggestions/")

    assert response.status_code == 200
    body = response.json()
    _conforms(SuggestionsOut, body)
    assert body["model_built_at"] == timezone.localtime(build.built_at).isoformat()
    belt = next(item for item in body["suggestions"] if item["sku"] == "BT1")
    assert belt == {
        "sku": "BT1",
        "name": "牛皮腰带",
        "price": "199.00",
        "image_url": "https://img.example/bt1.jpg",
        "category": "belt",
        "store_stock": 0,
        "online_stock": 12,
        "reason": "complement",
        "reason_text": "常与 真丝连衣裙 M 一起购买",
    }
    assert "DR1-M" not in {item["sku"] for item in body["suggestions"]}  # bought a month ago


def test_before_the_first_build_the_api_offers_recent_best_sellers(client, world):
    _buy(CustomerFactory(), world["belt"], days_ago=1)
    _sign_in(client, world["associate"])

    body = client.get(f"/api/v1/sidebar/customers/{world['customer'].pk}/suggestions/").json()

    _conforms(SuggestionsOut, body)
    assert body["model_built_at"] is None
    assert [(item["sku"], item["reason_text"]) for item in body["suggestions"]] == [("BT1", "近期热销")]


def test_another_stores_customer_is_404_like_a_missing_one(client, world):
    suggestion_model_build()
    _sign_in(client, world["associate"])

    responses = [
        client.get(f"/api/v1/sidebar/customers/{customer_id}/suggestions/")
        for customer_id in (world["stranger"].pk, 999_999)
    ]

    assert [r.status_code for r in responses] == [404, 404]
    assert responses[0].json() == responses[1].json()
    assert responses[0].json()["error"]["code"] == "not_found"


def test_addons_for_the_products_asked_about(client, world):
    suggestion_model_build()
    _sign_in(client, world["associate"])

    response = client.get("/api/v1/sidebar/addons/?sku=DR1-M&sku=DR1-M")

    assert response.status_code == 200
    body = response.json()
    _conforms(SuggestionsOut, body)
    assert {(item["sku"], item["reason_text"]) for item in body["suggestions"]} == {
        ("BT1", "常与 真丝连衣裙 M 一起购买"),
        ("SF1", "常与 真丝连衣裙 M 一起购买"),
    }


@pytest.mark.parametrize(
    ("query", "code"),
    [("?sku=DR1-M&sku=NOPE-1", "unknown_product"), ("", "invalid"), ("?" + "&".join(["sku=X"] * 21), "invalid")],
)
def test_addons_for_unknown_or_missing_products_are_a_400(client, world, query, code):
    suggestion_model_build()
    _sign_in(client, world["associate"])

    response = client.get(f"/api/v1/sidebar/addons/{query}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_without_a_session_the_suggestion_api_refuses(client, world):
    urls = [
        f"/api/v1/sidebar/customers/{world['customer'].pk}/suggestions/",
        "/api/v1/sidebar/addons/?sku=DR1-M",
    ]

    assert [client.get(url).status_code for url in urls] == [401, 401]
    assert client.post(f"/api/v1/sidebar/customers/{world['customer'].pk}/outreach/").status_code == 401


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_suggestion_api_takes_the_same_queries_however_long_the_history(client, world):
    suggestion_model_build()
    _sign_in(client, world["associate"])
    long = CustomerFactory(primary_store=world["store"])
    for n in range(40):
        _buy(long, world["belt"], days_ago=3 * n + 1)
    url = "/api/v1/sidebar/customers/{}/suggestions/"
    client.get(url.format(world["customer"].pk))  # the model and the sellable products, once per process

    counts = [_queries(client, url.format(customer.pk)) for customer in (world["customer"], long)]

    # session (from the cache where there is one) + associate, the customer, their purchases, the products
    assert counts[0] == counts[1] <= 5


# ---------------------------------------------------------------------------------------------------------
# Outreach


def test_sending_a_product_is_recorded_once_however_often_retried(client, world):
    _sign_in(client, world["associate"])
    url = f"/api/v1/sidebar/customers/{world['customer'].pk}/outreach/"
    send = {
        "sku": "BT1",
        "source": "suggestion",
        "reason": "常与 真丝连衣裙 M 一起购买",
        "request_id": str(uuid.uuid4()),
    }

    first = client.post(url, send, content_type="application/json")
    retry = client.post(url, send, content_type="application/json")

    assert (first.status_code, retry.status_code) == (201, 200)
    _conforms(OutreachOut, first.json())
    outreach = Outreach.objects.get()
    assert first.json() == retry.json() == {"id": outreach.pk}
    assert (outreach.associate, outreach.customer, outreach.product, outreach.source) == (
        world["associate"],
        world["customer"],
        world["belt"],
        "suggestion",
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"sku": "NOPE-1", "source": "manual"}, 400, "unknown_product"),
        ({"sku": "BT1", "source": "carrier_pigeon"}, 400, "invalid"),
        ({"sku": "BT1", "source": "manual", "request_id": "not-a-uuid"}, 400, "invalid"),
    ],
)
def test_a_bad_outreach_is_refused_and_not_recorded(client, world, body, status, code):
    _sign_in(client, world["associate"])

    response = client.post(
        f"/api/v1/sidebar/customers/{world['customer'].pk}/outreach/",
        {"request_id": str(uuid.uuid4()), **body},
        content_type="application/json",
    )

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert Outreach.objects.count() == 0


def test_an_outreach_to_another_stores_customer_is_404(client, world):
    _sign_in(client, world["associate"])

    response = client.post(
        f"/api/v1/sidebar/customers/{world['stranger'].pk}/outreach/",
        {"sku": "BT1", "source": "manual", "request_id": str(uuid.uuid4())},
        content_type="application/json",
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_not_found"
    assert Outreach.objects.count() == 0


# ---------------------------------------------------------------------------------------------------------
# The products API


def test_the_products_api_takes_a_style_and_online_stock(world):
    _, secret = api_key_create(name="Mall", channel=Channel.ONLINE_MALL)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    batch = {
        "products": [
            {"sku": "DR9-S", "name": "亚麻连衣裙 S", "price": "899.00", "style_code": "DR9", "online_stock": 7},
            {"sku": "DR9-M", "name": "亚麻连衣裙 M", "price": "899.00", "style_code": "DR9", "online_stock": None},
            {"sku": "DR9-L", "name": "亚麻连衣裙 L", "price": "899.00", "online_stock": -1},
        ]
    }

    response = client.post("/api/v1/products/batch", batch, format="json")
    Product.objects.filter(sku="DR9-S").update(online_stock=0)
    update = client.post("/api/v1/products/batch", {"products": batch["products"][:1]}, format="json")

    assert [row["status"] for row in response.json()["results"]] == ["created", "created", "error"]
    assert response.json()["results"][2]["errors"][0]["field"] == "online_stock"
    assert update.json()["results"][0]["status"] == "updated"
    assert dict(Product.objects.filter(sku__startswith="DR9").values_list("sku", "online_stock")) == {
        "DR9-S": 7,
        "DR9-M": None,
    }
    assert set(Product.objects.filter(sku__startswith="DR9").values_list("style_code", flat=True)) == {"DR9"}


# ---------------------------------------------------------------------------------------------------------
# Admin


def _staff(*codenames: str, stores=()):
    user = UserFactory()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    for store in stores:
        store.managers.add(user)
    return user


def test_hq_with_the_permissions_writes_complement_rules_by_name(client):
    client.force_login(_staff("add_complementrule", "view_complementrule", "view_all_stores"))

    response = client.post(
        "/admin/suggestions/complementrule/add/",
        {"category": "连衣裙", "complements": "腰带、围巾丝巾", "is_active": "on"},
    )
    refused = client.post("/admin/suggestions/complementrule/add/", {"category": "dress", "complements": "帽子"})

    assert response.status_code == 302
    rule = ComplementRule.objects.get()
    assert (rule.category, rule.complements, str(rule)) == ("dress", "belt、scarf", "连衣裙 → 腰带、围巾丝巾")
    assert refused.status_code == 200
    assert "未知品类「帽子」" in refused.content.decode()


def test_a_store_manager_reads_the_rules_but_cannot_change_them(client, world):
    rule = ComplementRule.objects.create(category="dress", complements="belt")
    client.force_login(_staff("view_complementrule", stores=[world["store"]]))

    listed = client.get("/admin/suggestions/complementrule/")
    changed = client.post(
        f"/admin/suggestions/complementrule/{rule.pk}/change/", {"category": "dress", "complements": "shoes"}
    )

    assert listed.status_code == 200
    assert "连衣裙 → 腰带" in listed.content.decode()
    assert changed.status_code == 403
    rule.refresh_from_db()
    assert rule.complements == "belt"


def test_model_builds_are_listed_and_rebuilt_from_admin(client, world, django_capture_on_commit_callbacks):
    first = suggestion_model_build()
    client.force_login(_staff("view_suggestionmodel", "rebuild_suggestionmodel"))

    listed = client.get("/admin/suggestions/suggestionmodel/")
    with django_capture_on_commit_callbacks(execute=True):
        rebuilt = client.post("/admin/suggestions/suggestionmodel/rebuild/")

    assert listed.status_code == 200
    assert f"推荐模型 #{first.pk}" in listed.content.decode()
    assert "立即重建" in listed.content.decode()
    assert rebuilt.status_code == 302
    assert SuggestionModel.objects.filter(status=SuggestionModel.Status.READY).count() == 2  # the task ran eagerly


def test_rebuilding_needs_its_permission(client, world):
    client.force_login(_staff("view_suggestionmodel"))

    listed = client.get("/admin/suggestions/suggestionmodel/")
    refused = client.post("/admin/suggestions/suggestionmodel/rebuild/")

    assert "立即重建" not in listed.content.decode()
    assert refused.status_code == 403
    assert SuggestionModel.objects.count() == 0


def test_a_manager_sees_only_their_stores_outreach(client, world):
    other_associate = AssociateFactory(store=world["stranger"].primary_store, name="王芳")
    for associate, customer in ((world["associate"], world["customer"]), (other_associate, world["stranger"])):
        Outreach.objects.create(
            request_id=uuid.uuid4(),
            associate=associate,
            store=associate.store,
            customer=customer,
            product=world["belt"],
            source=Outreach.Source.SUGGESTION,
        )
    client.force_login(_staff("view_outreach", stores=[world["store"]]))

    html = client.get("/admin/suggestions/outreach/").content.decode()

    assert "林雨" in html
    assert "王芳" not in html
