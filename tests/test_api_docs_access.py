"""The OpenAPI schema and its docs are for staff and API keys with DEBUG off (production, and tests), open to anyone in
the embedded default (DEBUG on); with DEBUG off no answer lists the URL configuration."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from customers.ingestion import api_key_create
from customers.models import Channel

pytestmark = pytest.mark.django_db

SCHEMA, DOCS, REDOC = "/api/schema/", "/api/docs/", "/api/redoc/"


def _staff(*, is_staff: bool = True) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("someone", is_staff=is_staff))
    return client


def test_without_debug_anonymous_callers_are_refused_the_schema_and_sent_to_sign_in_for_the_docs():
    client = Client()

    schema, docs, redoc = client.get(SCHEMA), client.get(DOCS), client.get(REDOC)

    assert schema.status_code == 403
    assert schema.json()["error"]["code"] == "permission_denied"
    assert "openapi" not in schema.content.decode()
    assert (docs.status_code, docs["Location"]) == (302, "/admin/login/?next=/api/docs/")
    assert (redoc.status_code, redoc["Location"]) == (302, "/admin/login/?next=/api/redoc/")


def test_a_signed_in_user_who_is_not_staff_is_refused():
    client = _staff(is_staff=False)

    assert client.get(SCHEMA).status_code == 403
    assert client.get(DOCS).status_code == 302


def test_staff_read_the_schema_and_the_docs():
    client = _staff()

    schema = client.get(SCHEMA)

    assert schema.status_code == 200
    assert b"openapi:" in schema.content
    assert client.get(DOCS).status_code == 200
    assert client.get(REDOC).status_code == 200


def test_an_api_key_reads_the_schema():
    _, secret = api_key_create(name="Mall", channel=Channel.ONLINE_MALL, scopes=[])

    schema = Client().get(SCHEMA, HTTP_AUTHORIZATION=f"Api-Key {secret}")

    assert schema.status_code == 200
    assert b"/api/v1/coupons/redeem/" in schema.content


def test_a_wrong_api_key_is_refused():
    assert Client().get(SCHEMA, HTTP_AUTHORIZATION="Api-Key nope.nope").status_code == 401


@pytest.mark.parametrize(
    "debug,public,expected", [(True, None, 200), (False, True, 200), (True, False, 403), (False, None, 403)]
)
def test_debug_opens_the_docs_unless_the_setting_says_otherwise(debug, public, expected):
    with override_settings(DEBUG=debug, OMNI_API_DOCS_PUBLIC=public):
        assert Client().get(SCHEMA).status_code == expected


@pytest.mark.parametrize("path", ["/no-such-page/", "/api/v1/no-such-api/", "/api/no-such/", "/c/", "/admin/nope/"])
def test_without_debug_a_404_does_not_list_the_url_configuration(path):
    response = Client().get(path)
    body = response.content.decode()

    assert response.status_code in (302, 404)
    for route in ("api/schema", "api/v1/sidebar", "wecom/", "coupons.urls", "URLconf", "urlpatterns"):
        assert route not in body
