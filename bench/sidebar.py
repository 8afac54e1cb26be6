"""The sidebar APIs under load: profile and history latency at 10k customers and at N (default 100,000).

Targets (issue 4, this 2-core machine, PostgreSQL): p95 ≤ 30 ms, and p95 at N ≤ 1.3 × p95 at 10k.

Each size is a PostgreSQL database of its own, `<DATABASE name>_bench_sidebar_<N>_o10`, seeded once with
the demo brand (seed_demo) with about 10 orders per customer, and reused by later runs. Omni runs as
uWSGI (uwsgi.ini, 4 workers); client processes, each signed in as the customer's own associate (a real
session), GET the profile and the order history of random customers, every request on a fresh
connection.
"""

import multiprocessing
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from importlib import import_module

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from associates.auth import SESSION_KEY
from bench._http_client import get_all
from bench._servers import database_url, free_port, omni_process, wait_until_up, web_cmd
from customers.models import Customer
from demo.seed import demo_data_present, demo_seed

SCRATCH_DATABASE = False
SMALL = 10_000
TARGET_P95_MS, TARGET_RATIO = 30, 1.3
ACTIVITY = 2.6  # demo_seed's purchase frequency giving about 10 orders per customer
WEB_WORKERS, CLIENTS, REQUESTS_PER_CLIENT, SAMPLE = 4, 4, 1000, 400


def run(*, scale: float, log: Callable[[str], None], customers: int = 100_000) -> dict:
    if connection.vendor != "postgresql":
        raise CommandError("bench sidebar measures PostgreSQL: set DATABASE_URL=postgres://…")
    base = settings.DATABASES["default"]["NAME"]
    small = _measure(_dataset(base, SMALL, log), log)
    large = small if customers == SMALL else _measure(_dataset(base, customers, log), log)
    ratio = round(large["p95_ms"] / small["p95_ms"], 2)
    return {
        "database": "postgresql",
        "web_workers": WEB_WORKERS,
        "client_processes": CLIENTS,
        "at_10k": small,
        f"at_{customers}": large,
        "p95_ratio_large_to_10k": ratio,
        "targets": {"p95_ms": TARGET_P95_MS, "p95_ratio": TARGET_RATIO},
        "meets_targets": large["p95_ms"] <= TARGET_P95_MS
        and small["p95_ms"] <= TARGET_P95_MS
        and ratio <= TARGET_RATIO,
    }


def _use(name: str) -> None:
    connection.close()
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name


def _dataset(base: str, customers: int, log) -> str:
    """Build the demo brand with `customers` customers in its own database, or reuse it."""
    name = f"{base}_bench_sidebar_{customers}_o10"
    db = connection.settings_dict
    admin_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    _use(name)
    call_command("migrate", verbosity=0)
    if demo_data_present():
        log(f"reusing {name}")
    else:
        log(f"seeding {customers:,} customers into {name} …")
        started = time.perf_counter()
        demo_seed(
            customers=customers,
            activity=ACTIVITY,
            progress=lambda done, total: log(f"  {done:,} / {total:,} ({time.perf_counter() - started:.0f}s)"),
        )
        call_command("createcachetable", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        log(f"seeded in {time.perf_counter() - started:.0f}s")
    return name


def _measure(name: str, log) -> dict:
    _use(name)
    sample = list(
        Customer.objects.filter(primary_associate__isnull=False, orders__isnull=False)
        .distinct()
        .order_by("?")
        .values_list("pk", "primary_associate_id")[:SAMPLE]
    )
    sessions = {}
    for _, associate_id in sample:
        if associate_id not in sessions:
            store = import_module(settings.SESSION_ENGINE).SessionStore()
            store[SESSION_KEY] = associate_id
            store.create()
            sessions[associate_id] = store.session_key
    queries = _queries(sample[0], sessions)
    rng = random.Random(4)
    gets = []
    for _ in range(CLIENTS * REQUESTS_PER_CLIENT):
        customer_id, associate_id = rng.choice(sample)
        path = f"/api/v1/sidebar/customers/{customer_id}/" + ("orders/" if rng.random() < 0.5 else "")
        gets.append((path, sessions[associate_id]))
    port = free_port()
    with omni_process(web_cmd(port, WEB_WORKERS), database_url=database_url()):
        wait_until_up(port)
        shares = [gets[n::CLIENTS] for n in range(CLIENTS)]
        with ProcessPoolExecutor(CLIENTS, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(get_all, [port] * CLIENTS, [share[:25] for share in shares]))  # warm up
            started = time.perf_counter()
            results = [r for share in pool.map(get_all, [port] * CLIENTS, shares) for r in share]
            seconds = time.perf_counter() - started
    assert all(status == 200 for _, status, _ in results), {status for _, status, _ in results}
    figures = _latencies([ms for _, _, ms in results])
    customers = Customer.objects.count()
    log(f"{customers:,} customers: p95 {figures['p95_ms']} ms, {len(results) / seconds:.0f} req/s")
    return {
        "customers": customers,
        "orders_per_customer": round(_orders() / customers, 2),
        "requests": len(results),
        "requests_per_s": round(len(results) / seconds),
        **figures,
        "profile": _latencies([ms for path, _, ms in results if not path.endswith("orders/")]),
        "orders": _latencies([ms for path, _, ms in results if path.endswith("orders/")]),
        "queries_per_request": queries,
    }


def _orders() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM customers_order")
        return cursor.fetchone()[0]


def _queries(pair: tuple[int, int], sessions: dict[int, str]) -> dict:
    customer_id, associate_id = pair
    client = Client()
    client.cookies["sessionid"] = sessions[associate_id]
    counts = {}
    for label, path in (("profile", ""), ("orders", "orders/")):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/api/v1/sidebar/customers/{customer_id}/{path}").status_code == 200
        counts[label] = len(captured)
    return counts


def _latencies(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 2),
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 2),
    }
