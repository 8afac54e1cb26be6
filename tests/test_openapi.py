"""The OpenAPI schema generates without a warning, and tells the truth: every API documents its input, output,
auth and every error it answers, in the one error envelope."""

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from customers.ingestion import api_key_create
from customers.models import Channel
from tests.factories import AssociateFactory, CustomerFactory, StoreFactory


@pytest.mark.django_db
def test_the_openapi_schema_is_complete_and_valid():
    out = io.StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

    assert "/api/v1/sidebar/customers/{customer_id}/" in out.getvalue()


# Finding 8: the schema documents every status an operation answers, with the error envelope ----------------------

ERROR_REF = "#/components/schemas/Error"


def _spec() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def _api_routes() -> set[str]:
    from drf_spectacular.generators import EndpointEnumerator

    return {path for path, *_ in EndpointEnumerator().get_api_endpoints() if path.startswith("/api/v1/")}


def test_finding8_every_api_operation_documents_its_errors_as_the_one_envelope():
    spec = _spec()
    operations = [(path, method, op) for path, method, op in _operations(spec) if path.startswith("/api/v1/")]

    # Every /api/v1 route the URL configuration serves is in the schema (a new endpoint cannot hide from it).
    assert {path for path, _, _ in operations} == _api_routes()
    for path, method, operation in operations:
        statuses = set(operation["responses"])
        expected = {"401", "403", "406", "500"} | ({"400", "413", "415"} if method == "POST" else set())
        expected |= {"404"} if "{" in path else set()
        assert expected <= statuses, (method, path, sorted(statuses))
        for status, response in operation["responses"].items():
            if status >= "400":
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref in (ERROR_REF, "#/components/schemas/BatchError"), (method, path, status, ref)
    batch_error = spec["components"]["schemas"]["BatchError"]
    assert batch_error["required"] == ["error"]
    assert set(batch_error["properties"]) == {"error", "results", "summary"}


def _documented(spec: dict, response, method: str, path: str) -> None:
    """The answer's status is documented for the operation and its body is the documented shape."""
    responses = spec["paths"][path][method.lower()]["responses"]
    assert str(response.status_code) in responses, (method, path, response.status_code, sorted(responses))
    schema = responses[str(response.status_code)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(response.json())


@pytest.mark.django_db
def test_finding8_the_errors_the_batch_sidebar_and_coupon_apis_answer_are_documented_and_match_the_schema():
    spec = _spec()
    store = StoreFactory(code="SH01")
    associate = AssociateFactory(store=store)
    mine, theirs = CustomerFactory(primary_store=store), CustomerFactory(primary_store=StoreFactory(code="BJ01"))
    _, secret = api_key_create(name="POS", channel=Channel.STORE_POS)
    pos = APIClient()
    pos.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    sidebar = Client()
    session = sidebar.session
    session[SESSION_KEY] = associate.pk
    session.save()
    order = {"external_id": "P1", "placed_at": "2026-10-01T14:30:00+08:00", "lines": [{"sku": "NO", "quantity": 1}]}
    answers = [
        ("POST", "/api/v1/members/batch", "/api/v1/members/batch", pos, {}, 400),
        ("POST", "/api/v1/orders/batch", "/api/v1/orders/batch", pos, {"orders": [order]}, 400),
        ("POST", "/api/v1/products/batch", "/api/v1/products/batch", pos, {"products": "x"}, 400),
        ("POST", "/api/v1/coupons/redeem/", "/api/v1/coupons/redeem/", pos, {"code": ""}, 400),
        ("POST", "/api/v1/coupons/validate/", "/api/v1/coupons/validate/", APIClient(), {}, 401),
        ("GET", "/api/v1/sidebar/addons/", "/api/v1/sidebar/addons/", sidebar, None, 400),
        (
            "POST",
            "/api/v1/sidebar/customers/{customer_id}/notes/",
            f"/api/v1/sidebar/customers/{theirs.pk}/notes/",
            sidebar,
            {"text": "hi"},
            404,
        ),
        (
            "POST",
            "/api/v1/sidebar/customers/{customer_id}/tags/",
            f"/api/v1/sidebar/customers/{mine.pk}/tags/",
            sidebar,
            {"name": ""},
            400,
        ),
        (
            "POST",
            "/api/v1/sidebar/customers/{customer_id}/link/",
            f"/api/v1/sidebar/customers/{mine.pk}/link/",
            sidebar,
            {},
            400,
        ),
        ("POST", "/api/v1/sidebar/tasks/{task_id}/done/", "/api/v1/sidebar/tasks/999999/done/", sidebar, None, 404),
        (
            "POST",
            "/api/v1/pickups/ready",
            "/api/v1/pickups/ready",
            pos,
            {"store_code": "SH01", "external_id": "NOPE", "request_id": "R-1"},
            404,
        ),
    ]

    for method, template, path, client, body, status in answers:
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, json.dumps(body), content_type="application/json")
        assert response.status_code == status, (path, response.content[:200])
        _documented(spec, response, method, template)
