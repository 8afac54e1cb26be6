"""Bad input on any /api/ path is a clear 4xx in the JSON error envelope, never a 500 or an HTML page (issue 19)."""

import json

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from customers.ingestion import api_key_create
from customers.models import Channel, Customer, CustomerNote, Order
from tests.factories import AssociateFactory, CustomerFactory, ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db

NESTED_1000 = "[" * 1000 + "]" * 1000


@pytest.fixture
def world():
    store = StoreFactory(code="SH01")
    associate = AssociateFactory(store=store, wecom_userid="linyu")
    customer = CustomerFactory(primary_store=store, primary_associate=associate)
    _, secret = api_key_create(name="POS", channel=Channel.STORE_POS)
    return {"associate": associate, "customer": customer, "secret": secret}


def _key_client(world) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Api-Key {world['secret']}", raise_request_exception=False)


def _session_client(world) -> Client:
    client = Client(raise_request_exception=False)
    session = client.session
    session[SESSION_KEY] = world["associate"].pk
    session.save()
    return client


def _envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


def _deep(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


# Finding 6: deeply nested JSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/orders/batch", "/api/v1/coupons/redeem/", "/api/v1/coupons/validate/", "/api/v1/members/batch"]
)
@pytest.mark.parametrize("depth", [1000, 900, 65])
def test_finding6_deeply_nested_json_is_400_malformed_request_on_the_pos_apis(world, path, depth):
    body = _envelope(
        _key_client(world).post(path, _deep(depth), content_type="application/json"), 400, "malformed_request"
    )

    assert "64" in body["error"]["message"]
    assert Order.objects.count() == 0


def test_finding6_deeply_nested_json_is_400_on_the_tills_fast_path_inside_a_plain_body(world):
    body = {"code": "ABCD2345EF", "store": "SH01", "order_ref": "P", "amount": "1.00", "request_no": "R"}
    raw = json.dumps(body)[:-1] + ', "extra": ' + NESTED_1000 + "}"

    _envelope(
        _key_client(world).post("/api/v1/coupons/redeem/", raw, content_type="application/json"),
        400,
        "malformed_request",
    )


def test_finding6_deeply_nested_json_is_400_on_the_sidebar_and_adds_no_note(world):
    path = f"/api/v1/sidebar/customers/{world['customer'].pk}/notes/"

    _envelope(_session_client(world).post(path, NESTED_1000, content_type="application/json"), 400, "malformed_request")

    assert CustomerNote.objects.count() == 0


def test_finding6_nesting_up_to_the_limit_and_brackets_inside_strings_are_read_as_usual(world):
    path = f"/api/v1/sidebar/customers/{world['customer'].pk}/notes/"
    client = _session_client(world)

    deep_but_allowed = client.post(
        path, json.dumps({"text": "[" * 500, "x": json.loads(_deep(62))}), content_type="application/json"
    )
    invalid = client.post(path, '{"text": ', content_type="application/json")

    assert deep_but_allowed.status_code == 201
    assert CustomerNote.objects.get().text == "[" * 500
    _envelope(invalid, 400, "malformed_request")


# Finding 7: errors outside the envelope ---------------------------------------------------------------------------


def test_finding7_a_body_over_the_size_limit_is_413_body_too_large_in_the_envelope(world):
    members = [{"external_id": f"M{n:07d}", "name": "x" * 100} for n in range(25_000)]
    raw = json.dumps({"members": members})
    assert len(raw) > 3_000_000

    _envelope(
        _key_client(world).post("/api/v1/members/batch", raw, content_type="application/json"), 413, "body_too_large"
    )

    assert Customer.objects.count() == 1


def test_finding7_a_body_over_the_size_limit_is_413_on_the_tills_fast_path(world):
    raw = json.dumps({"code": "C", "order_ref": "P" * 3_000_000, "amount": "1.00", "request_no": "R"})

    _envelope(
        _key_client(world).post("/api/v1/coupons/redeem/", raw, content_type="application/json"), 413, "body_too_large"
    )


def test_finding7_an_invalid_phone_in_a_member_row_names_the_phone_field(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['secret']}")

    response = client.post("/api/v1/members/batch", {"members": [{"external_id": "M1", "phone": "12"}]}, format="json")

    assert response.status_code == 400
    assert response.json()["results"][0]["errors"] == [
        {"field": "phone", "code": "invalid_phone", "message": "'12' is not a valid phone number."}
    ]


def test_finding7_an_invalid_phone_in_an_orders_customer_names_its_field(world):
    ProductFactory(sku="DRESS-1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['secret']}")
    order = {
        "external_id": "P1",
        "placed_at": "2026-10-01T14:30:00+08:00",
        "store": "SH01",
        "customer": {"phone": "12"},
        "lines": [{"sku": "DRESS-1", "quantity": 1, "unit_price": "1.00"}],
    }

    response = client.post("/api/v1/orders/batch", {"orders": [order]}, format="json")

    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["results"][0]["errors"]] == [
        ("customer.phone", "invalid_phone")
    ]


@pytest.mark.parametrize("debug", [True, False])
def test_finding7_an_unknown_api_path_is_a_json_404_with_debug_on_or_off(world, debug):
    with override_settings(DEBUG=debug):
        for path in ("/api/v1/nothing-here/", "/api/v2/", "/api/v1/sidebar/customers/abc/"):
            _envelope(Client().get(path), 404, "not_found")


@pytest.mark.parametrize("debug", [True, False])
def test_finding7_a_method_not_allowed_is_a_json_405(world, debug):
    with override_settings(DEBUG=debug):
        _envelope(_key_client(world).get("/api/v1/orders/batch"), 405, "method_not_allowed")
        _envelope(_key_client(world).get("/api/v1/coupons/redeem/"), 405, "method_not_allowed")


def test_finding7_an_accept_header_json_cannot_satisfy_is_a_json_406(world):
    response = _key_client(world).post(
        "/api/v1/orders/batch", "{}", content_type="application/json", HTTP_ACCEPT="text/html"
    )

    assert response.status_code == 406
    assert response.json()["error"]["code"] == "not_acceptable"


@pytest.mark.parametrize("debug", [True, False])
def test_finding7_an_unexpected_failure_under_api_is_a_json_500_server_error(world, debug, monkeypatch, caplog):
    def broken(self, scope, rows):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("customers.apis.MembersBatchApi.upsert", broken)
    raw = json.dumps({"members": [{"external_id": "M1"}]})

    with override_settings(DEBUG=debug):
        response = _key_client(world).post("/api/v1/members/batch", raw, content_type="application/json")

    body = _envelope(response, 500, "server_error")
    assert "disk on fire" not in json.dumps(body)
    assert any("disk on fire" in str(record.exc_info) for record in caplog.records if record.exc_info)


def test_finding7_pages_outside_api_keep_their_html_errors(world):
    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_finding8_linking_a_member_number_the_contact_already_holds_is_not_a_500(world):
    customer = world["customer"]
    customer.identities.create(kind="pos_member_no", value="M-0001")
    path = f"/api/v1/sidebar/customers/{customer.pk}/link/"
    client = _session_client(world)
    first = client.post(path, {"member_no": "M-0001"}, content_type="application/json")

    again = client.post(path, {"member_no": "M-0001"}, content_type="application/json")

    # A typed number is a claim (finding 1): answered alike, even for a number the contact already holds.
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["status"] == "pending_confirmation"
    assert list(customer.identities.values_list("kind", "value")) == [("pos_member_no", "M-0001")]


@pytest.mark.parametrize("debug", [True, False])
def test_finding7_a_write_to_a_path_without_its_trailing_slash_is_a_json_404_naming_the_path(world, debug):
    path = f"/api/v1/sidebar/customers/{world['customer'].pk}"
    with override_settings(DEBUG=debug):
        posted = _key_client(world).post("/api/v1/coupons/redeem", "{}", content_type="application/json")
        got = _session_client(world).get(path)

    assert "/api/v1/coupons/redeem/" in _envelope(posted, 404, "not_found")["error"]["message"]
    assert (got.status_code, got["Location"]) == (301, path + "/")


@pytest.mark.parametrize(
    ("raw", "too_deep"),
    [
        (b"[" * 64 + b"]" * 64, False),
        (b"[" * 65 + b"]" * 65, True),
        (b'{"a": [' * 32 + b"1" + b"]}" * 32, False),
        (b'{"a": [' * 33 + b"1" + b"]}" * 33, True),
        (b'["' + b"[" * 100 + b'"]', False),
        (b'["\\"[[[", ' + b"[" * 64 + b"]" * 64 + b"]", True),
        (b"[" + b"[]," * 500 + b"[]]", False),
        (b'{"a": [' * 40, True),
    ],
)
def test_finding6_the_depth_limit_counts_brackets_outside_strings(raw, too_deep):
    from omni.api import MalformedJson, json_body_parse

    if too_deep:
        with pytest.raises(MalformedJson, match="nested deeper than 64 levels"):
            json_body_parse(raw)
    else:
        json_body_parse(raw)


def test_a_json_body_in_another_charset_is_read_in_it(world):
    raw = json.dumps({"members": [{"external_id": "M1", "name": "陈静"}]}, ensure_ascii=False)  # sent as GBK

    response = _key_client(world).post("/api/v1/members/batch", raw, content_type="application/json; charset=gbk")

    assert response.status_code == 200, response.content
    assert Customer.objects.get(pk=response.json()["results"][0]["id"]).name == "陈静"
