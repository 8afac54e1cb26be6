"""The models and the migrations agree: nothing is left for makemigrations to write."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_migrations_are_complete():
    out = io.StringIO()

    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()
