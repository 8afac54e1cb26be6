"""Returns anywhere: a mall order taken back at another store's till through the POS API, against the original order,
once per request number; what stays returnable; the errors that change nothing; finding the order."""

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from customers.ingestion import api_key_create
from customers.models import Channel, Customer, Identity, Order, OrderLine
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db

PLACED = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


def _client(channel=Channel.STORE_POS, stores=(), scopes=None):
    _, secret = api_key_create(name="POS", channel=channel, stores=stores, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


@pytest.fixture
def mall():
    """A mall order of a dress (899, 50 off) and two belts (199 each), and the store that will take things back."""
    customer = CustomerFactory(name="陈静")
    IdentityFactory(customer=customer, kind=Identity.Kind.PHONE, value="+8613800138000")
    order = OrderFactory(
        channel=Channel.ONLINE_MALL,
        external_id="MALL-1",
        store=None,
        customer=customer,
        placed_at=PLACED,
        total_amount=Decimal("1247.00"),
    )
    dress = ProductFactory(sku="DRESS-1", name="真丝连衣裙", category="连衣裙")
    belt = ProductFactory(sku="BELT-1", name="皮带", category="配饰")
    OrderLineFactory(order=order, line_no=1, product=dress, quantity=1, unit_price=Decimal("899.00"), discount=50)
    OrderLineFactory(order=order, line_no=2, product=belt, quantity=2, unit_price=Decimal("199.00"))
    store = StoreFactory(code="XH01", name="徐汇店")
    return {"order": order, "customer": customer, "store": store, "pos": _client(stores=[store])}


def _return(request_no="RET-1", lines=None, refund="199.00", store="XH01", order_no="MALL-1", **extra):
    return {
        "request_no": request_no,
        "order_no": order_no,
        "order_channel": Channel.ONLINE_MALL,
        "store": store,
        "refund_amount": refund,
        "lines": lines or [{"line_no": 2, "quantity": 1}],
        **extra,
    }


def _post(client, body):
    return client.post("/api/v1/orders/returns", body, format="json")


def _state():
    return (
        Order.objects.count(),
        list(OrderLine.objects.order_by("pk").values_list("pk", "quantity", "discount")),
        list(Order.objects.order_by("pk").values_list("pk", "status", "total_amount")),
    )


def test_another_store_takes_back_part_of_a_mall_order_against_the_original(mall):
    response = _post(mall["pos"], _return())

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body | {"id": 0, "returned_at": ""} == {
        "id": 0,
        "request_no": "RET-1",
        "order_no": "MALL-1",
        "order_channel": "online_mall",
        "store": "XH01",
        "refund_amount": "199.00",
        "returned_at": "",
        "lines": [{"line_no": 2, "sku": "BELT-1", "quantity": 1, "refund": "199.00"}],
    }
    order_return = Order.objects.get(pk=body["id"])
    assert (order_return.channel, order_return.external_id, order_return.original_id) == (
        Channel.STORE_POS,
        "RET-1",
        mall["order"].pk,
    )
    assert (order_return.store_id, order_return.customer_id, order_return.associate_id) == (
        mall["store"].pk,
        mall["customer"].pk,
        None,
    )
    assert order_return.total_amount == Decimal("-199.00")
    (line,) = order_return.lines.all()
    assert (line.quantity, line.unit_price, line.amount, line.original_line.line_no) == (
        -1,
        Decimal("199.00"),
        Decimal("-199.00"),
        2,
    )
    mall["order"].refresh_from_db()
    assert (mall["order"].status, mall["order"].total_amount) == (Order.Status.COMPLETED, Decimal("1247.00"))


def test_a_returned_discounted_line_refunds_its_price_net_of_its_discount_by_default(mall):
    response = _post(mall["pos"], _return(lines=[{"line_no": 1, "quantity": 1}], refund="849.00"))

    assert response.status_code == 201
    (line,) = Order.objects.get(pk=response.json()["id"]).lines.all()
    assert (line.quantity, line.discount, line.amount) == (-1, Decimal("-50.00"), Decimal("-849.00"))


def test_a_smaller_refund_is_spread_over_the_returned_lines_and_sums_exactly(mall):
    response = _post(
        mall["pos"],
        _return(lines=[{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 2}], refund="1000.00"),
    )

    assert response.status_code == 201
    refunds = [line["refund"] for line in response.json()["lines"]]
    assert sum(Decimal(r) for r in refunds) == Decimal("1000.00")
    assert refunds == ["680.83", "319.17"]


def test_a_replay_answers_the_same_and_changes_nothing(mall):
    first = _post(mall["pos"], _return())
    before = _state()

    again = _post(mall["pos"], _return())

    assert again.status_code == 200
    assert again.json() == first.json()
    assert _state() == before


def test_the_same_request_number_with_other_content_is_a_conflict_and_changes_nothing(mall):
    _post(mall["pos"], _return())
    before = _state()

    for changed in (
        _return(lines=[{"line_no": 2, "quantity": 2}], refund="398.00"),
        _return(refund="150.00"),
        _return(lines=[{"line_no": 1, "quantity": 1}], refund="199.00"),
    ):
        response = _post(mall["pos"], changed)
        assert response.status_code == 409, changed
        assert response.json()["error"]["code"] == "request_no_reused"
    assert _state() == before


def test_returning_more_than_is_left_is_refused_and_changes_nothing(mall):
    assert _post(mall["pos"], _return(lines=[{"line_no": 2, "quantity": 1}])).status_code == 201
    before = _state()

    response = _post(mall["pos"], _return(request_no="RET-2", lines=[{"line_no": 2, "quantity": 2}], refund="0"))

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "over_return"
    assert error["details"] == {"field": "lines[0].quantity", "returnable": 1}
    assert _state() == before
    # The last belt can still go back, and then nothing of that line is left.
    assert _post(mall["pos"], _return(request_no="RET-3")).status_code == 201
    response = _post(mall["pos"], _return(request_no="RET-4"))
    assert response.json()["error"]["code"] == "over_return"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (_return(lines=[{"line_no": 3, "quantity": 1}]), 400, "unknown_line"),
        (_return(order_no="MALL-404"), 404, "unknown_order"),
        (_return(store="NOPE"), 404, "unknown_store"),
        (_return(refund="200.00"), 400, "refund_too_large"),
        (_return(refund="-1.00"), 400, "invalid"),
        (_return(lines=[{"line_no": 2, "quantity": 1}, {"line_no": 2, "quantity": 1}]), 400, "duplicate_line"),
        (_return(lines=[{"line_no": 2, "quantity": 0}]), 400, "invalid"),
    ],
)
def test_a_bad_return_is_refused_with_a_stable_code_and_changes_nothing(mall, body, status, code):
    before = _state()

    response = _post(mall["pos"], body)

    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert _state() == before


def test_a_key_of_another_channel_store_or_scope_is_refused_and_changes_nothing(mall):
    other_store = StoreFactory(code="JA01")
    before = _state()

    for client, status, code in (
        (_client(channel=Channel.ONLINE_MALL), 403, "channel_not_allowed"),
        (_client(stores=[other_store]), 403, "store_not_allowed"),
        (_client(stores=[mall["store"]], scopes=["coupons", "stock"]), 403, "scope_missing"),
        (APIClient(), 401, "not_authenticated"),
    ):
        response = _post(client, _return())
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert _state() == before


def test_a_return_and_a_cancelled_order_cannot_be_returned(mall):
    _post(mall["pos"], _return())
    Order.objects.filter(pk=mall["order"].pk).update(status=Order.Status.CANCELLED)

    response = _post(mall["pos"], _return(request_no="RET-2"))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_returnable")

    body = _return(request_no="RET-3", order_no="RET-1") | {"order_channel": Channel.STORE_POS}
    response = _post(mall["pos"], body)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_returnable")


def test_a_request_number_taken_by_a_sale_is_a_conflict(mall):
    sale = OrderFactory(channel=Channel.STORE_POS, external_id="RET-1", store=mall["store"])
    OrderLineFactory(order=sale, line_no=1)

    response = _post(mall["pos"], _return())

    assert (response.status_code, response.json()["error"]["code"]) == (409, "request_no_reused")


def test_the_till_finds_the_order_by_number_or_customer_with_what_is_left_to_return(mall):
    _post(mall["pos"], _return())

    by_number = mall["pos"].get("/api/v1/orders/lookup", {"order_no": "MALL-1"})
    by_phone = mall["pos"].get("/api/v1/orders/lookup", {"phone": "13800138000"})

    assert by_number.status_code == 200
    assert by_number.json() == by_phone.json()
    (order,) = by_number.json()["orders"]
    assert (order["order_no"], order["channel"], order["store"], order["total_amount"]) == (
        "MALL-1",
        "online_mall",
        None,
        "1247.00",
    )
    assert [(line["line_no"], line["quantity"], line["returnable"], line["refundable"]) for line in order["lines"]] == [
        (1, 1, 1, "849.00"),
        (2, 2, 1, "199.00"),
    ]
    nobody = mall["pos"].get("/api/v1/orders/lookup", {"phone": "13900139000"})
    assert nobody.json() == {"orders": []}
    missing = mall["pos"].get("/api/v1/orders/lookup")
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "lookup_key_required")


def test_the_associate_finds_the_chats_customers_orders_with_what_is_left_to_return(mall, client):
    associate = AssociateFactory(store=mall["store"])
    Customer.objects.filter(pk=mall["customer"].pk).update(primary_store=mall["store"])
    _post(mall["pos"], _return())
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    url = f"/api/v1/sidebar/customers/{mall['customer'].pk}/returnable/"

    latest = client.get(url).json()
    by_number = client.get(url, {"order_no": "MALL-1"}).json()

    assert latest == by_number
    (order,) = by_number["orders"]
    assert [(line["line_no"], line["returnable"], line["refundable"]) for line in order["lines"]] == [
        (1, 1, "849.00"),
        (2, 1, "199.00"),
    ]
    assert client.get(url, {"order_no": "RET-1"}).json() == {"orders": []}  # a return is not taken back
    assert client.get(url, {"order_no": "MALL\x001"}).status_code == 400
    stranger = CustomerFactory()
    assert client.get(f"/api/v1/sidebar/customers/{stranger.pk}/returnable/").status_code == 404
