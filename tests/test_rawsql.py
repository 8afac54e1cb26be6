"""omni.rawsql on PostgreSQL: the hot statements are prepared once per connection, and still behave as Django's."""

import pytest
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from associates.models import Store
from omni import rawsql
from tests.factories import StoreFactory
from tests.threads import run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

_BY_CODE = f"SELECT id, name FROM {Store._meta.db_table} WHERE code = %s"


def _prepared() -> list[str]:
    return [row[0] for row in rawsql.rows("SELECT statement FROM pg_prepared_statements", [])]


def test_a_prepared_statement_is_planned_once_per_connection_and_answers_each_call():
    first, second = StoreFactory(code="P01", name="一店"), StoreFactory(code="P02", name="二店")

    answers = [rawsql.rows(_BY_CODE, [code], prepare=True) for code in ("P01", "P02", "P99")]

    assert answers == [[(first.pk, "一店")], [(second.pk, "二店")], []]
    assert _prepared() == [_BY_CODE.replace("%s", "$1")]


def test_unprepared_statements_stay_unprepared():
    StoreFactory(code="P01")

    rawsql.rows(_BY_CODE, ["P01"])

    assert _prepared() == []


def test_without_prepared_statements_the_same_call_answers_the_same(monkeypatch):
    store = StoreFactory(code="P01", name="一店")
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)  # DATABASE_PREPARED_STATEMENTS=false

    assert rawsql.rows(_BY_CODE, ["P01"], prepare=True) == [(store.pk, "一店")]
    assert _prepared() == []


def test_prepared_statements_are_counted_by_query_capture_and_raise_djangos_errors():
    StoreFactory(code="P01")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE seen (code text UNIQUE)")
    insert = "INSERT INTO seen (code) VALUES (%s) RETURNING code"

    with CaptureQueriesContext(connection) as captured:
        rawsql.rows(_BY_CODE, ["P01"], prepare=True)
    rawsql.rows(insert, ["A"], prepare=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        rawsql.rows(insert, ["A"], prepare=True)

    assert len(captured.captured_queries) == 1
    assert rawsql.rows("SELECT code FROM seen", []) == [("A",)]


def _cut(pid: int) -> None:
    """Another session ends backend `pid`, as a restart or an idle timeout on the server's side would."""

    run_concurrently(lambda: rawsql.rows("SELECT pg_terminate_backend(%s)", [pid]), contenders=1)


@pytest.mark.django_db(transaction=True)
def test_unprobed_runs_its_statement_again_on_a_new_connection_when_the_kept_one_was_cut():
    kept = rawsql.rows("SELECT pg_backend_pid()", [])[0][0]
    _cut(kept)
    runs = []

    def first() -> int:
        runs.append(1)
        return rawsql.rows("SELECT pg_backend_pid()", [], prepare=True)[0][0]

    now_on = rawsql.unprobed(first)

    assert now_on != kept and len(runs) == 2
    assert rawsql.unprobed(first) == now_on and len(runs) == 3  # a live connection: once


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_unprobed_does_not_run_its_statement_again():
    runs = []

    def first() -> list[tuple]:
        runs.append(1)
        return rawsql.rows("SELECT 1", [])

    with pytest.raises((OperationalError, InterfaceError)), transaction.atomic():
        _cut(rawsql.rows("SELECT pg_backend_pid()", [])[0][0])
        rawsql.unprobed(first)

    assert len(runs) == 1
