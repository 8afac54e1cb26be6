"""Helpers for the hand-written SQL on Omni's hottest paths (the sidebar's profile, history and suggestions; the
till's redemption): run a statement, and read values as the drivers give them (PostgreSQL and SQLite differ)."""

from datetime import UTC, datetime
from decimal import Decimal

import psycopg
from django.db import connection
from django.utils.dateparse import parse_datetime

CENT = Decimal("0.01")


def rows(sql: str, params, *, prepare: bool = False) -> list[tuple]:
    """The statement's rows. `prepare`: on PostgreSQL, a prepared statement — parsed and planned once per connection
    rather than on every call, which is most of what PostgreSQL spends on a small statement. Its parameters are
    bound server-side, so a parameter whose type the statement does not imply (a NULL id, say) needs a cast."""
    with _prepared_cursor() if prepare and connection.vendor == "postgresql" else connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class _PreparingCursor(psycopg.Cursor):
    """Binds server-side and prepares what it runs (psycopg prepares nothing when the connection's
    `prepare_threshold` is None: see DATABASES in settings)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def _prepared_cursor():
    """Django's cursor (thread checks, error wrapping, query logging, execute wrappers) over a _PreparingCursor."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        cursor = _PreparingCursor(connection.connection)
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def moment(value) -> datetime | None:
    """A timestamp as the driver gives it (PostgreSQL: aware; SQLite: naive UTC, or text from an aggregate)."""
    if value is None or (isinstance(value, datetime) and value.tzinfo):
        return value
    parsed = parse_datetime(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC)


def money(value) -> Decimal:
    """Money as the driver gives it (PostgreSQL: Decimal; SQLite: int or float) to the cent."""
    return (value if isinstance(value, Decimal) else Decimal(str(value or 0))).quantize(CENT)
