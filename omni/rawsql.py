"""Helpers for the hand-written SQL on Omni's hottest paths (the sidebar's profile, history and suggestions; the
till's redemption): run a statement, and read values as the drivers give them (PostgreSQL and SQLite differ)."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection
from django.utils.dateparse import parse_datetime

CENT = Decimal("0.01")


def rows(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def moment(value) -> datetime | None:
    """A timestamp as the driver gives it (PostgreSQL: aware; SQLite: naive UTC, or text from an aggregate)."""
    if value is None or (isinstance(value, datetime) and value.tzinfo):
        return value
    parsed = parse_datetime(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC)


def money(value) -> Decimal:
    """Money as the driver gives it (PostgreSQL: Decimal; SQLite: int or float) to the cent."""
    return (value if isinstance(value, Decimal) else Decimal(str(value or 0))).quantize(CENT)
