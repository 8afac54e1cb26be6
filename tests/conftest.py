"""Test configuration: the database is SQLite by default and PostgreSQL when DATABASE_URL is set."""

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL=postgres://…)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _celery_in_process():
    """Tasks run inline in tests; the real-worker tests start their own worker processes."""
    from omni.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _suggestion_caches_fresh():
    """The suggestion model and sellable products are cached per process; each test has its own database."""
    from suggestions.selectors import suggestion_caches_clear

    suggestion_caches_clear()
    yield
    suggestion_caches_clear()
