"""Manager insight at a million orders: attribution, the daily figures, and how fast the dashboard opens.

Size at scale 1: 20 stores × 10 associates, 200,000 customers, 1,000,000 orders over a year (a third at the
store POS with the cashier named, the rest online), 300,000 product cards sent. The figures:

1. attribution: `attribution_recompute` over the whole year (what a rule change costs), orders/s;
2. refresh: `daily_stats_refresh` over the year (the nightly job covers only the window's days);
3. dashboard: the admin page for HQ and for one store's manager over 30 and 365 days, median of 7 loads through
   Django's test client, with the number of SQL statements (it reads only DailyStats, never the orders).
Target: the dashboard opens in ≤ 300 ms at 1,000,000 orders.
"""

import datetime as dt
import random
import statistics
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from associates.models import Associate, Store
from customers.models import Channel, Customer, Order, Product
from insights.attribution import attribution_recompute
from insights.models import Attribution, DailyStats
from insights.stats import daily_stats_refresh
from omni.bulk import bulk_copy
from suggestions.models import Outreach

ORDERS, CUSTOMERS, CARDS = 1_000_000, 200_000, 300_000
STORES, PER_STORE, DAYS = 20, 10, 365
TARGET_PAGE_MS = 300
CUSTOMER_COLUMNS = ("id", "name", "gender", "phone", "primary_store_id", "primary_associate_id")
CUSTOMER_COLUMNS += ("marketing_consent", "opted_out", "created_at", "updated_at")
ORDER_COLUMNS = ("channel", "external_id", "store_id", "customer_id", "associate_id", "placed_at", "status")
ORDER_COLUMNS += ("fulfilment", "currency", "total_amount", "created_at", "updated_at")


def run(*, scale: float, log: Callable[[str], None]) -> dict:
    orders, customers, cards = (max(1000, int(n * scale)) for n in (ORDERS, CUSTOMERS, CARDS))
    today = timezone.localdate()
    tz = timezone.get_current_timezone()
    first = today - dt.timedelta(days=DAYS - 1)
    start = dt.datetime.combine(first, dt.time.min, tzinfo=tz)
    stores = _seed(orders, customers, cards, start, log)

    began = time.perf_counter()
    n_orders, n_rows = attribution_recompute(start=start, end=start + dt.timedelta(days=DAYS + 1))
    attribution_s = time.perf_counter() - began
    log(f"attribution: {n_orders} orders → {n_rows} rows in {attribution_s:.1f} s")

    began = time.perf_counter()
    daily_rows = daily_stats_refresh(start=first, end=today)
    refresh_s = time.perf_counter() - began
    log(f"daily figures: {daily_rows} rows in {refresh_s:.1f} s")

    user_model = get_user_model()
    hq = user_model.objects.create_superuser("bench-hq", password="x")
    manager = user_model.objects.create_user("bench-manager", password="x", is_staff=True)
    stores[0].managers.add(manager)
    manager.user_permissions.add(Permission.objects.get(codename="view_dailystats"))
    pages = {}
    for who, user in (("hq", hq), ("manager", manager)):
        client = Client()
        client.force_login(user)
        for days in (30, 365):
            query = {"start": (today - dt.timedelta(days=days - 1)).isoformat(), "end": today.isoformat()}
            pages[f"{who}_{days}d"] = _page(client, query)
    return {
        "orders": n_orders,
        "attribution_rows": Attribution.objects.count(),
        "attribution_seconds": round(attribution_s, 1),
        "attribution_orders_per_second": round(n_orders / attribution_s) if attribution_s else None,
        "daily_rows": DailyStats.objects.count(),
        "refresh_seconds": round(refresh_s, 1),
        "dashboard": pages,
        "target_page_ms": TARGET_PAGE_MS,
        "meets_target": all(p["median_ms"] <= TARGET_PAGE_MS for p in pages.values()),
    }


def _page(client: Client, query: dict) -> dict:
    times = []
    for _ in range(7):
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            response = client.get("/admin/insights/dailystats/", query)
            times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.status_code
    return {"median_ms": round(statistics.median(times), 1), "sql_statements": len(queries)}


def _seed(orders: int, customers: int, cards: int, start: dt.datetime, log) -> list[Store]:
    rng = random.Random(9)
    began = time.perf_counter()
    stores = Store.objects.bulk_create(Store(code=f"IS{n:02d}", name=f"基准门店{n}") for n in range(STORES))
    staff = Associate.objects.bulk_create(
        Associate(wecom_userid=f"ins{s.pk}-{n}", name=f"导购{s.pk}-{n}", store=s)
        for s in stores
        for n in range(PER_STORE)
    )
    products = Product.objects.bulk_create(
        Product(sku=f"IB{n:04d}", name=f"商品{n}", price=Decimal(99 + n * 10)) for n in range(50)
    )
    now = timezone.now()
    base = (Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    bulk_copy(
        Customer,
        [*CUSTOMER_COLUMNS],
        (
            (base + n, f"顾客{n}", "unknown", "", a.store_id, a.pk, True, False, now, now)
            for n in range(customers)
            for a in [staff[n % len(staff)]]
        ),
    )
    seconds = DAYS * 86400
    bulk_copy(
        Outreach,
        ["request_id", "associate_id", "store_id", "customer_id", "product_id", "source", "reason", "sent_at"],
        (
            (str(uuid.uuid4()), a.pk, a.store_id, base + c, rng.choice(products).pk, "suggestion", "", t)
            for _ in range(cards)
            for c in [rng.randrange(customers)]
            for a in [staff[c % len(staff)]]
            for t in [start + dt.timedelta(seconds=rng.randrange(seconds))]
        ),
    )
    bulk_copy(
        Order,
        [*ORDER_COLUMNS],
        (
            (
                channel,
                f"IB{n:09d}",
                a.store_id if pos else None,
                base + c,
                a.pk if pos else None,
                start + dt.timedelta(seconds=rng.randrange(seconds)),
                "completed",
                "in_store" if pos else "delivery",
                "CNY",
                Decimal(rng.randrange(99, 2000)),
                now,
                now,
            )
            for n in range(orders)
            for c in [rng.randrange(customers)]
            for a in [staff[c % len(staff)]]
            for pos in [n % 3 == 0]
            for channel in [Channel.STORE_POS if pos else Channel.MINI_PROGRAM]
        ),
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), %s)", [base + customers])
            cursor.execute("ANALYZE")
    log(f"seeded {orders} orders, {customers} customers, {cards} cards in {time.perf_counter() - began:.1f} s")
    return stores
