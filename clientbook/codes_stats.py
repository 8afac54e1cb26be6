"""Per code, per day (Asia/Shanghai): adds, deletes, net, the share of a day's adds still following 7 and 30 days
later, and first-purchase conversion within 30 days with its sales — two set-based statements over every code at once
(`codes_stats`), whatever the number of adds. A member's own code counts for its store code (parent).

- adds: friendships made through the code that day (followed_at).
- deletes: friendships of the code that ended that day because either side deleted the other (not transfers).
- kept_7 / kept_30: of the day's adds old enough (7 / 30 days), those not deleted within 7 / 30 days; the share is
  kept / due (None while none is old enough).
- converted: of the day's adds, customers whose first valid order ever (not cancelled or returned) came within 30
  days of the add; sales: those customers' valid orders in the 30 days.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from clientbook.models import FollowRelation

LOCAL = ZoneInfo("Asia/Shanghai")
DELETED = (FollowRelation.Ended.CUSTOMER.value, FollowRelation.Ended.ASSOCIATE.value)
INVALID_ORDER = ("cancelled", "returned")


@dataclass
class CodeDay:
    code_id: int
    day: dt.date
    adds: int = 0
    deletes: int = 0
    due_7: int = 0
    kept_7: int = 0
    due_30: int = 0
    kept_30: int = 0
    converted: int = 0
    sales: Decimal = field(default_factory=lambda: Decimal("0.00"))

    @property
    def net(self) -> int:
        return self.adds - self.deletes

    @property
    def retained_7(self) -> float | None:
        return round(self.kept_7 / self.due_7, 4) if self.due_7 else None

    @property
    def retained_30(self) -> float | None:
        return round(self.kept_30 / self.due_30, 4) if self.due_30 else None

    @property
    def conversion(self) -> float | None:
        return round(self.converted / self.adds, 4) if self.adds else None


def _sql_parts() -> dict[str, str]:
    if connection.vendor == "postgresql":
        return {
            "day": "(({col}) AT TIME ZONE 'Asia/Shanghai')::date",
            "plus7": "({col}) + interval '7 days'",
            "plus30": "({col}) + interval '30 days'",
        }
    return {
        "day": "date({col}, '+8 hours')",
        "plus7": "strftime('%%Y-%%m-%%d %%H:%%M:%%f', {col}, '+7 days')",
        "plus30": "strftime('%%Y-%%m-%%d %%H:%%M:%%f', {col}, '+30 days')",
    }


def _expr(name: str, col: str) -> str:
    return _sql_parts()[name].replace("{col}", col)


def _codes_filter(code_ids: list[int] | None) -> tuple[str, list]:
    if code_ids is None:
        return "", []
    marks = ", ".join(["%s"] * len(code_ids)) or "NULL"
    return f" AND COALESCE(cw.parent_id, cw.id) IN ({marks})", list(code_ids)


def _adds_sql(code_ids: list[int] | None) -> tuple[str, list]:
    """One pass over the period's friendships, each joined (hash join) to its customer's first valid order; the
    sales are summed only for the converted (an index lookup each). No materialised CTE: the planner sees the
    tables' statistics."""
    where, codes = _codes_filter(code_ids)
    plus7, plus30 = _expr("plus7", "f.followed_at"), _expr("plus30", "f.followed_at")
    sql = f"""
        SELECT f.code_id, f.day, COUNT(*),
            SUM(CASE WHEN {plus7} <= %s THEN 1 ELSE 0 END),
            SUM(CASE WHEN {plus7} <= %s AND NOT (f.ended_reason IN (%s, %s) AND f.ended_at < {plus7})
                THEN 1 ELSE 0 END),
            SUM(CASE WHEN {plus30} <= %s THEN 1 ELSE 0 END),
            SUM(CASE WHEN {plus30} <= %s AND NOT (f.ended_reason IN (%s, %s) AND f.ended_at < {plus30})
                THEN 1 ELSE 0 END),
            SUM(CASE WHEN f.first_at >= f.followed_at AND f.first_at < {plus30} THEN 1 ELSE 0 END),
            COALESCE(SUM(CASE WHEN f.first_at >= f.followed_at AND f.first_at < {plus30} THEN (
                SELECT SUM(o.total_amount) FROM customers_order o
                WHERE o.customer_id = f.customer_id AND o.status NOT IN (%s, %s)
                    AND o.placed_at >= f.followed_at AND o.placed_at < {plus30}
            ) END), 0)
        FROM (
            SELECT fr.customer_id, fr.followed_at, fr.ended_at, fr.ended_reason, firsts.first_at,
                   COALESCE(cw.parent_id, cw.id) AS code_id, {_expr("day", "fr.followed_at")} AS day
            FROM associates_followrelation fr
            JOIN associates_contactway cw ON cw.id = fr.contact_way_id
            LEFT JOIN (
                SELECT ord.customer_id, MIN(ord.placed_at) AS first_at
                FROM customers_order ord
                WHERE ord.status NOT IN (%s, %s) AND ord.customer_id IN (
                    SELECT customer_id FROM associates_followrelation
                    WHERE followed_at >= %s AND followed_at < %s AND contact_way_id IS NOT NULL
                )
                GROUP BY ord.customer_id
            ) firsts ON firsts.customer_id = fr.customer_id
            WHERE fr.followed_at >= %s AND fr.followed_at < %s{where}
        ) f
        GROUP BY f.code_id, f.day
    """
    return sql, codes


def _deletes_sql(code_ids: list[int] | None) -> tuple[str, list]:
    where, codes = _codes_filter(code_ids)
    day = _expr("day", "fr.ended_at")
    sql = f"""
        SELECT COALESCE(cw.parent_id, cw.id), {day}, COUNT(*)
        FROM associates_followrelation fr
        JOIN associates_contactway cw ON cw.id = fr.contact_way_id
        WHERE fr.ended_at >= %s AND fr.ended_at < %s AND fr.ended_reason IN (%s, %s){where}
        GROUP BY 1, 2
    """
    return sql, codes


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def codes_stats(
    *, since: dt.date, until: dt.date, code_ids: list[int] | None = None, now: dt.datetime | None = None
) -> dict[tuple[int, dt.date], CodeDay]:
    """The figures of every code (or these) for each local day in [since, until], keyed (code id, day); only days
    with an add or a delete have a row."""
    now = now or timezone.now()
    start = dt.datetime.combine(since, dt.time(), LOCAL)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), LOCAL)
    rows: dict[tuple[int, dt.date], CodeDay] = {}
    adds_sql, codes = _adds_sql(code_ids)
    deletes_sql, _ = _deletes_sql(code_ids)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Compiling these expressions costs seconds and saves none at this size (as in customers.importing).
            cursor.execute("SET LOCAL jit = off")
            # Room to group a million friendships by code and day in memory rather than sorting them on disk.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        params = [
            now,
            now,
            *DELETED,
            now,
            now,
            *DELETED,
            *INVALID_ORDER,
            *INVALID_ORDER,
            start,
            end,
            start,
            end,
            *codes,
        ]
        cursor.execute(adds_sql, params)
        for code_id, day, adds, due7, kept7, due30, kept30, converted, sales in cursor.fetchall():
            key = (code_id, _as_date(day))
            rows[key] = CodeDay(
                code_id=code_id,
                day=key[1],
                adds=adds,
                due_7=due7 or 0,
                kept_7=kept7 or 0,
                due_30=due30 or 0,
                kept_30=kept30 or 0,
                converted=converted,
                sales=Decimal(str(sales)).quantize(Decimal("0.01")),
            )
        cursor.execute(deletes_sql, [start, end, *DELETED, *codes])
        for code_id, day, deletes in cursor.fetchall():
            key = (code_id, _as_date(day))
            rows.setdefault(key, CodeDay(code_id=code_id, day=key[1])).deletes = deletes
    return rows


def code_totals(rows: dict[tuple[int, dt.date], CodeDay]) -> dict[int, CodeDay]:
    """The days of each code summed (day = the first day)."""
    totals: dict[int, CodeDay] = {}
    for (code_id, day), row in sorted(rows.items()):
        total = totals.setdefault(code_id, CodeDay(code_id=code_id, day=day))
        for name in ("adds", "deletes", "due_7", "kept_7", "due_30", "kept_30", "converted", "sales"):
            setattr(total, name, getattr(total, name) + getattr(row, name))
    return totals
