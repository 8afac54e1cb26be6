"""Helpers for the hand-written SQL on Omni's hottest paths (the sidebar's profile, history and suggestions; the
till's redemption): run a statement, and read values as the drivers give them (PostgreSQL and SQLite differ)."""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import psycopg
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.utils.dateparse import parse_datetime

CENT = Decimal("0.01")
T = TypeVar("T")


def rows(sql: str, params, *, prepare: bool = False) -> list[tuple]:
    """The statement's rows. `prepare`: on PostgreSQL, a prepared statement — parsed and planned once per connection
    rather than on every call, which is most of what PostgreSQL spends on a small statement. Its parameters are
    bound server-side, so a parameter whose type the statement does not imply (a NULL id, say) needs a cast."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy looks the connection up again
    with _prepared_cursor(db) if prepare and db.vendor == "postgresql" else db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class _PreparingCursor(psycopg.Cursor):
    """Binds server-side and prepares what it runs (psycopg prepares nothing when the connection's
    `prepare_threshold` is None: see DATABASES in settings)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def _prepared_cursor(db):
    """Django's cursor (thread checks, error wrapping, query logging, execute wrappers) over a _PreparingCursor."""
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        cursor = _PreparingCursor(db.connection)
    return db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)


def unprobed(first: Callable[[], T]) -> T:
    """Run `first`, the opening statement of a hot request, on the kept connection without Django's health probe
    (with CONN_HEALTH_CHECKS every request's first query costs one more round trip). `first` must be safe to run
    twice: on a connection found broken it is closed and `first` runs once more on a new one. Inside a
    transaction it simply runs (the transaction already has a live connection, or is lost anyway)."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.in_atomic_block:
        return first()
    db.health_check_done = True
    try:
        return first()
    except (OperationalError, InterfaceError):
        db.close()
        return first()


def moment(value) -> datetime | None:
    """A timestamp as the driver gives it (PostgreSQL: aware; SQLite: naive UTC, or text from an aggregate)."""
    if value is None or (isinstance(value, datetime) and value.tzinfo):
        return value
    parsed = parse_datetime(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC)


def money(value) -> Decimal:
    """Money as the driver gives it (PostgreSQL: Decimal; SQLite: int or float) to the cent."""
    return (value if isinstance(value, Decimal) else Decimal(str(value or 0))).quantize(CENT)
