"""The OpenAPI schema generates without a warning: every API documents its input, output and auth."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_openapi_schema_is_complete_and_valid():
    out = io.StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

    assert "/api/v1/sidebar/customers/{customer_id}/" in out.getvalue()
