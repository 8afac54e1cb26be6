"""Per-code figures (渠道活码数据) at 1,000,000 adds: `codes_stats` over every code and 90 days, set-based in SQL.

The data set is written with COPY (omni.bulk): 20 stores × 10 codes; N customers, each added once through a code,
spread evenly over the last 90 days; a tenth deleted the associate 0–19 days later; a seventh bought once 0–39 days
after adding (a third of those orders cancelled), and a thirteenth had bought before adding (so that a later order
is not their first). What the figures must be follows from that plan and is checked: the adds, the deletes, the
first-purchase conversions within 30 days and their sales.

Target (issue 25): every code's figures by day for 90 days at 1M adds in ≤ 5 s (PostgreSQL; the lead runs the real
figure on a quiet machine). One code's 30 days, what the admin page asks, is timed too.
"""

import datetime as dt
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from associates.models import Associate, Store
from clientbook.codes_stats import LOCAL, code_totals, codes_stats
from clientbook.models import ContactWay, FollowRelation
from customers.models import Customer, Order
from omni.bulk import bulk_copy, next_ids

ADDS = 1_000_000
STORES, CODES_PER_STORE = 20, 10
DAYS = 90
TARGET_SECONDS = 5.0


def add_arguments(parser) -> None:
    parser.add_argument("--adds", type=int, help="bench codes: adds (friendships through codes) in the data set.")


def _row(model: type[Model], values: dict) -> tuple[list[str], Callable[[dict], tuple]]:
    """The columns of `model`'s table and a function making a row of them: `values` (by column) over each field's
    default, as the ORM would save it."""
    fields = [f for f in model._meta.concrete_fields]
    columns = [f.column for f in fields]
    base = {}
    for f in fields:
        default = f.get_default() if f.has_default() or not f.null else None
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            default = timezone.now()
        base[f.column] = default
    base.update(values)

    def make(overrides: dict) -> tuple:
        merged = {**base, **overrides}
        return tuple(merged[c] for c in columns)

    return columns, make


def _customers(n: int) -> list[int]:
    ids = next_ids(Customer, n)
    columns, make = _row(Customer, {})
    bulk_copy(Customer, columns, (make({"id": i, "name": f"客{k}"}) for k, i in enumerate(ids)))
    return ids


def _plan(n: int, start: dt.datetime, span: float) -> Iterator[tuple[int, dt.datetime]]:
    for k in range(n):
        yield k, start + dt.timedelta(seconds=k * span / n)


def _seed(n: int, log: Callable[[str], None]) -> tuple[dict, list[int]]:
    started = time.perf_counter()
    stores = Store.objects.bulk_create(Store(code=f"CB{s:02d}", name=f"门店{s}") for s in range(STORES))
    associates = Associate.objects.bulk_create(
        Associate(store=store, wecom_userid=f"cb{s:02d}", name=f"导购{s}") for s, store in enumerate(stores)
    )
    codes = ContactWay.objects.bulk_create(
        ContactWay(store=store, kind=ContactWay.Kind.STORE, state=f"cbench{s:02d}{c}", label=f"码{s}-{c}")
        for s, store in enumerate(stores)
        for c in range(CODES_PER_STORE)
    )
    customer_ids = _customers(n)
    log(f"{n:,} customers written in {time.perf_counter() - started:.0f}s")
    now = timezone.now()
    start = now - dt.timedelta(days=DAYS)
    span = (DAYS - 1) * 86400.0
    follow_ids = next_ids(FollowRelation, n)
    columns, make = _row(FollowRelation, {})
    expected = {"adds": n, "deletes": 0, "converted": 0, "sales": Decimal("0.00")}

    def follows() -> Iterator[tuple]:
        for k, at in _plan(n, start, span):
            code = codes[k % len(codes)]
            ended = at + dt.timedelta(days=k % 20, hours=1) if k % 10 == 0 else None
            if ended is not None and ended >= now:
                ended = None  # not yet
            if ended is not None:
                expected["deletes"] += 1
            yield make(
                {
                    "id": follow_ids[k],
                    "associate_id": associates[(k % len(codes)) // CODES_PER_STORE].pk,
                    "customer_id": customer_ids[k],
                    "external_userid": f"wm{k:030d}",
                    "state": code.state,
                    "contact_way_id": code.pk,
                    "followed_at": at,
                    "ended_at": ended,
                    "ended_reason": FollowRelation.Ended.CUSTOMER if ended else "",
                    "add_way": 1,
                }
            )

    bulk_copy(FollowRelation, columns, follows())
    log(f"{n:,} follows written in {time.perf_counter() - started:.0f}s")
    columns, make = _row(Order, {"channel": "store_pos", "currency": "CNY"})

    def orders() -> Iterator[tuple]:
        order_no = 0
        for k, at in _plan(n, start, span):
            bought_before = k % 13 == 0
            if bought_before:
                order_no += 1
                yield make(
                    {
                        "external_id": f"CB{order_no:09d}",
                        "store_id": stores[0].pk,
                        "customer_id": customer_ids[k],
                        "placed_at": at - dt.timedelta(days=5),
                        "status": Order.Status.COMPLETED,
                        "total_amount": Decimal("10.00"),
                    }
                )
            if k % 7:
                continue
            days_after, cancelled = k % 40, k % 21 == 0
            amount = Decimal(100 + k % 50)
            order_no += 1
            if not cancelled and days_after < 30 and not bought_before:
                expected["converted"] += 1
                expected["sales"] += amount
            yield make(
                {
                    "external_id": f"CB{order_no:09d}",
                    "store_id": stores[0].pk,
                    "customer_id": customer_ids[k],
                    "placed_at": at + dt.timedelta(days=days_after, minutes=1),
                    "status": Order.Status.CANCELLED if cancelled else Order.Status.COMPLETED,
                    "total_amount": amount,
                }
            )

    order_columns = [c for c in columns if c != "id"]
    index = columns.index("id")
    bulk_copy(Order, order_columns, (row[:index] + row[index + 1 :] for row in orders()))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("customers_customer", "associates_followrelation", "customers_order"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    log(f"orders written; data set ready in {time.perf_counter() - started:.0f}s")
    return expected, [c.pk for c in codes]


def run(*, scale: float, log: Callable[[str], None], adds: int | None = None) -> dict:
    n = adds or max(1000, int(ADDS * scale))
    expected, code_ids = _seed(n, log)
    today = timezone.now().astimezone(LOCAL).date()
    since = today - dt.timedelta(days=DAYS)
    started = time.perf_counter()
    rows = codes_stats(since=since, until=today)
    seconds = time.perf_counter() - started
    log(f"every code's figures for {DAYS + 1} days: {len(rows):,} rows in {seconds:.2f}s")
    started = time.perf_counter()
    codes_stats(since=today - dt.timedelta(days=29), until=today, code_ids=code_ids[:1])
    one_code_seconds = time.perf_counter() - started
    totals = code_totals(rows).values()
    got = {
        "adds": sum(t.adds for t in totals),
        "deletes": sum(t.deletes for t in totals),
        "converted": sum(t.converted for t in totals),
        "sales": sum((t.sales for t in totals), Decimal("0.00")),
    }
    verified = got == expected
    if not verified:
        log(f"figures differ from the plan: got {got}, expected {expected}")
    return {
        "adds": n,
        "codes": len(code_ids),
        "days": DAYS + 1,
        "rows": len(rows),
        "seconds_all_codes": round(seconds, 2),
        "seconds_one_code_30_days": round(one_code_seconds, 3),
        "figures": {k: str(v) for k, v in got.items()},
        "verified": verified,
        "targets": {"seconds_all_codes": TARGET_SECONDS},
        "met": verified and seconds <= TARGET_SECONDS,
    }
