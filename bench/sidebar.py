"""The sidebar APIs under load: profile and history latency at 10k customers and at N (default 100,000).

Targets (issues 4 and 22, this 2-core machine, PostgreSQL): p95 ≤ 30 ms, and p95 at N ≤ 1.3 × p95 at 10k.

Each size is a PostgreSQL database of its own, `<DATABASE name>_bench_sidebar_<N>_l10`, built once and reused by
later runs (a marker table, written last, says a build finished; an unfinished one is dropped and built again).
The first BASE customers are the demo brand (seed_demo) at about 10 order lines per customer (the issue's brand:
20M customers, 200M lines); the rest are copies of them made in SQL (`INSERT … SELECT` over `generate_series`,
ids and unique keys shifted per copy), with the copied tables' secondary indexes and foreign keys dropped during
the load and built again after it, as PostgreSQL's "Populating a Database" advises, two connections at once; the
copied tables no other table references are UNLOGGED there (no WAL for their copies and indexes; reads are the
same). Omni runs as uWSGI (uwsgi.ini, 4 workers); client processes, each signed in as an associate who may see the
customer (their own, or every tenth a cross-store follower: a real session), GET the profile and the order history
of random customers, every request on a fresh connection. The JSON gives the build's figures beside its target.
"""

import json
import math
import multiprocessing
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from importlib import import_module

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from associates.auth import SESSION_KEY
from associates.models import Associate
from bench._http_client import get_all
from bench._servers import database_url, free_port, omni_process, wait_until_up, web_cmd
from clientbook.models import FollowRelation
from customers.models import Customer
from demo.seed import demo_seed

SCRATCH_DATABASE = False
SMALL = 10_000
BASE = 10_000  # customers seeded by the demo brand; larger sets are copies of them
TARGET_P95_MS, TARGET_RATIO = 30, 1.3
TARGET_BUILD_CUSTOMERS_PER_S = 50_000
ACTIVITY = 1.2  # demo_seed's purchase frequency giving about 10 order lines (4.6 orders) per customer
WEB_WORKERS, CLIENTS, REQUESTS_PER_CLIENT, SAMPLE = 4, 4, 1000, 400
BUILT = "bench_sidebar_built"  # the marker table: one row, the build's figures
COPY_BATCH = 250_000  # customers copied per statement: progress, and no single transaction of hours
# The copied tables no other table references, UNLOGGED in the large sets: their copies and index builds write no
# WAL (most of a build's cost here). Reads of an unlogged table are a logged one's (same pages, same buffers); a
# server restart empties them, and the next run builds the set again.
UNLOGGED = [
    "customers_orderline",
    "customers_identity",
    "customers_customertag",
    "customers_customernote",
    "associates_followrelation",
]

# What a copy shifts: table -> (columns shifted by the copy number × the base's largest id of the table named,
# text columns made unique per copy). Every other column is copied as it is.
COPIED = {
    "customers_customer": ({"id": "customers_customer", "merged_into_id": "customers_customer"}, ()),
    "customers_identity": ({"id": "customers_identity", "customer_id": "customers_customer"}, ("value",)),
    "customers_customertag": ({"id": "customers_customertag", "customer_id": "customers_customer"}, ()),
    "customers_customernote": ({"id": "customers_customernote", "customer_id": "customers_customer"}, ()),
    "associates_followrelation": (
        {"id": "associates_followrelation", "customer_id": "customers_customer"},
        ("external_userid",),
    ),
    "customers_order": ({"id": "customers_order", "customer_id": "customers_customer"}, ("external_id",)),
    "customers_orderline": ({"id": "customers_orderline", "order_id": "customers_order"}, ()),
}


def add_arguments(parser) -> None:
    parser.add_argument(
        "--rebuild", action="store_true", help="bench sidebar: build the data sets again instead of reusing them."
    )


def run(*, scale: float, log: Callable[[str], None], customers: int = 100_000, rebuild: bool = False) -> dict:
    if connection.vendor != "postgresql":
        raise CommandError("bench sidebar measures PostgreSQL: set DATABASE_URL=postgres://…")
    if customers < SMALL:
        raise CommandError(f"--customers must be at least {SMALL:,}")
    base = settings.DATABASES["default"]["NAME"]
    small_name, small_build = _dataset(base, SMALL, log, rebuild=rebuild)
    small = _measure(small_name, log)
    large_build = small_build
    if customers == SMALL:
        large = small
    else:
        large_name, large_build = _dataset(base, customers, log, rebuild=rebuild)
        large = _measure(large_name, log)
    ratio = round(large["p95_ms"] / small["p95_ms"], 2)
    return {
        "database": "postgresql",
        "web_workers": WEB_WORKERS,
        "client_processes": CLIENTS,
        "build": large_build,
        "at_10k": small,
        f"at_{customers}": large,
        "p95_ratio_large_to_10k": ratio,
        "targets": {
            "p95_ms": TARGET_P95_MS,
            "p95_ratio": TARGET_RATIO,
            "build_customers_per_s": TARGET_BUILD_CUSTOMERS_PER_S,
        },
        "meets_targets": large["p95_ms"] <= TARGET_P95_MS
        and small["p95_ms"] <= TARGET_P95_MS
        and ratio <= TARGET_RATIO,
        "build_meets_target": large_build.get("customers_per_s") is None
        or large_build["customers_per_s"] >= TARGET_BUILD_CUSTOMERS_PER_S,
    }


def _use(name: str) -> None:
    connection.close()
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name


def _dataset(base: str, customers: int, log, *, rebuild: bool) -> tuple[str, dict]:
    """The data set of `customers` customers in its own database: reused when a build finished, else built."""
    name = f"{base}_bench_sidebar_{customers}_l10"
    db = connection.settings_dict
    admin_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not rebuild:
            with psycopg.connect(_url(name), autocommit=True) as target:
                built = target.execute(
                    "SELECT figures FROM bench_sidebar_built" if _has_table(target, BUILT) else "SELECT NULL"
                ).fetchone()[0]
            if built and customers > BASE and not _unlogged_kept(name):
                log(f"{name}: its unlogged tables were emptied (a server restart); building it again")
            elif built:
                log(f"reusing {name} (built in {built['seconds']}s)")
                _use(name)
                call_command("migrate", verbosity=0)
                return name, {**built, "reused": True}
        if exists:
            log(f"dropping {name}: {'--rebuild' if rebuild else 'its build did not finish'}")
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        started = time.perf_counter()
        seed = f"{base}_bench_sidebar_{BASE}_l10"
        if customers > BASE:
            # The seeded brand, copied file by file from its own data set (built first by run()), not seeded again.
            connection.close()
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{seed}"')
            with psycopg.connect(_url(name), autocommit=True) as target:
                target.execute(f"DROP TABLE {BUILT}")
                for table in UNLOGGED:
                    target.execute(f"ALTER TABLE {table} SET UNLOGGED")
        else:
            admin.execute(f'CREATE DATABASE "{name}"')
    _use(name)
    call_command("migrate", verbosity=0)
    if customers <= BASE:
        call_command("createcachetable", verbosity=0)
        log(f"seeding the demo brand's {customers:,} customers into {name} …")
        demo_seed(customers=customers, activity=ACTIVITY)
    figures = {"customers": customers, "seed_seconds": round(time.perf_counter() - started, 1)}
    if customers > BASE:
        figures.update(_copies_write(name=name, customers=customers, log=log))
    connection.close()
    vacuumed = time.perf_counter()
    # Visibility maps and statistics, as a live database has them; two tables at a time.
    _parallel(name, [[f"VACUUM (ANALYZE) {table}"] for table in _tables_by_size(name)], log=None)
    figures["vacuum_seconds"] = round(time.perf_counter() - vacuumed, 1)
    with connection.cursor() as cursor:
        seconds = round(time.perf_counter() - started, 1)
        figures.update(seconds=seconds, customers_per_s=round(customers / seconds))
        cursor.execute(f"CREATE TABLE {BUILT} (figures jsonb NOT NULL)")
        cursor.execute(f"INSERT INTO {BUILT} VALUES (%s::jsonb)", [json.dumps(figures)])
    log(f"built {customers:,} customers in {seconds}s ({figures['customers_per_s']:,} customers/s)")
    return name, {**figures, "reused": False}


def _copies_write(*, name: str, customers: int, log) -> dict:
    """Copy the seeded customers, with everything the sidebar reads of them, until there are `customers`: two
    connections at once (the order lines on one, the rest on the other), then the indexes built again likewise."""
    copies = math.ceil(customers / BASE)  # copy 0 is the seed itself
    with psycopg.connect(_url(name), autocommit=True) as conn, conn.cursor() as cursor:
        largest = {}
        for table in COPIED:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            largest[table] = cursor.fetchone()[0]
        cursor.execute("SELECT MIN(id) FROM customers_customer")
        if cursor.fetchone()[0] < 1 or largest["customers_customer"] != BASE:
            raise CommandError("the seeded customers are not ids 1…BASE; drop the data set and build it again")
        columns = {}
        for table in COPIED:
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                [table],
            )
            columns[table] = [row[0] for row in cursor.fetchall()]
        dropped = _secondary_dropped(cursor, list(COPIED))
    # The last copy may be partial: it stops at `customers`, a customer's rows all coming with it.
    whole, part = (copies - 1, 0) if customers % BASE == 0 else (copies - 2, customers % BASE)
    step = COPY_BATCH // BASE
    batches = [(first, min(whole, first + step - 1), None) for first in range(1, whole + 1, step)]
    if part:
        batches.append((copies - 1, copies - 1, part))
    lines, rest = [], []
    for first, last, upto in batches:
        for table, (shifted, unique_text) in COPIED.items():
            select = [
                f"t.{c} + k * {largest[shifted[c]]}"
                if c in shifted
                else f"t.{c} || '~' || k"
                if c in unique_text
                else f"t.{c}"
                for c in columns[table]
            ]
            source, where = f"seed_{table} AS t", ["true"]
            if upto and table == "customers_customer":
                where.append(f"t.id <= {upto}")
            elif upto and table == "customers_orderline":
                source += " JOIN seed_customers_order AS o ON o.id = t.order_id"
                where.append(f"o.customer_id <= {upto}")
            elif upto:
                where.append(f"t.customer_id <= {upto}")
            (lines if table == "customers_orderline" else rest).append(
                f"INSERT INTO {table} ({', '.join(columns[table])}) SELECT {', '.join(select)}"
                f" FROM generate_series({first}, {last}) AS k CROSS JOIN {source} WHERE {' AND '.join(where)}"
            )
    # The seeded rows apart in each session, so that a copy reads 10k customers' rows, not the growing table.
    seeds = [f"CREATE TEMPORARY TABLE seed_{t} AS SELECT * FROM {t} WHERE id <= {largest[t]}" for t in COPIED]
    started = time.perf_counter()
    _parallel(name, [seeds + lines, seeds + rest], log=log)
    loaded = time.perf_counter() - started
    indexes, keys = dropped
    on_lines = [statement for statement in indexes if "customers_orderline" in statement]
    _parallel(name, [on_lines, [statement for statement in indexes if statement not in on_lines]], log=None)
    _parallel(name, [keys], log=None)
    indexed = time.perf_counter() - started - loaded
    with psycopg.connect(_url(name), autocommit=True) as conn:
        for table in COPIED:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    log(f"  copied in {loaded:.0f}s, indexes and keys built again in {indexed:.0f}s")
    return {"copy_seconds": round(loaded, 1), "index_seconds": round(indexed, 1)}


def _parallel(name: str, scripts: list[list[str]], *, log) -> None:
    """Run each script (its statements in order) on a connection of its own, two at a time."""

    def script_run(statements: list[str]) -> None:
        with psycopg.connect(_url(name), autocommit=True) as conn:
            conn.execute("SET jit = off")  # compiling each statement costs more than it saves here
            conn.execute("SET maintenance_work_mem = '512MB'")
            started = time.perf_counter()
            for n, statement in enumerate(statements, 1):
                conn.execute(statement)
                if log and statement.startswith("INSERT INTO customers_orderline"):
                    log(f"  order lines: statement {n} of {len(statements)} ({time.perf_counter() - started:.0f}s)")

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(script_run, [script for script in scripts if script]))


def _tables_by_size(name: str) -> list[str]:
    with psycopg.connect(_url(name), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            " ORDER BY pg_relation_size(oid) DESC"
        ).fetchall()
    return [row[0] for row in rows]


def _secondary_dropped(cursor, tables: list[str]) -> tuple[list[str], list[str]]:
    """Drop the tables' foreign keys, unique constraints and indexes other than their primary keys; answer the
    statements that build them again: the indexes and unique constraints, then the foreign keys."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype FROM pg_constraint"
        " WHERE contype IN ('f', 'u') AND conrelid = ANY(%s::regclass[]) ORDER BY contype DESC, 1, 2",
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype = 'u')",
        [tables],
    )
    indexes = cursor.fetchall()
    for table, name, _, _ in sorted(constraints, key=lambda c: c[3]):  # foreign keys first
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    rebuilt = [definition for _, definition in indexes]
    rebuilt += [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {d}' for table, name, d, kind in constraints if kind == "u"
    ]
    # The copies are valid by construction (every reference shifted with its row): the keys come back NOT VALID
    # rather than checked by a join over the whole tables; they check every later write as before.
    keys = [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {d} NOT VALID'
        for table, name, d, kind in constraints
        if kind == "f"
    ]
    return rebuilt, keys


def _unlogged_kept(name: str) -> bool:
    with psycopg.connect(_url(name), autocommit=True) as conn:
        return conn.execute(f"SELECT EXISTS (SELECT 1 FROM {UNLOGGED[0]})").fetchone()[0]


def _has_table(conn, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]


def _url(name: str) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _measure(name: str, log) -> dict:
    _use(name)
    # Drawn over the whole id range (not ORDER BY random(), a sort of every customer at 5M): at 5M most of them
    # are copies, whose rows lie far from one another on disk.
    largest = Customer.objects.order_by("-pk").values_list("pk", flat=True).first()
    drawn = random.Random(3).sample(range(1, largest + 1), min(largest, SAMPLE * 4))
    sample = list(
        Customer.objects.filter(pk__in=drawn, primary_associate__isnull=False, orders__isnull=False)
        .distinct()
        .order_by("pk")
        .values_list("pk", "primary_associate_id")[:SAMPLE]
    )
    sample = _cross_store_followers(sample)
    sessions = {}
    for _, associate_id in sample:
        if associate_id not in sessions:
            store = import_module(settings.SESSION_ENGINE).SessionStore()
            store[SESSION_KEY] = associate_id
            store.create()
            sessions[associate_id] = store.session_key
    queries = _queries(sample[1], sessions)  # an own customer's (sample[0] is a cross-store follower's)
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
        "orders_per_customer": round(_count("customers_order") / customers, 2),
        "order_lines_per_customer": round(_count("customers_orderline") / customers, 2),
        "requests": len(results),
        "requests_per_s": round(len(results) / seconds),
        **figures,
        "profile": _latencies([ms for path, _, ms in results if not path.endswith("orders/")]),
        "orders": _latencies([ms for path, _, ms in results if path.endswith("orders/")]),
        "queries_per_request": queries,
    }


def _cross_store_followers(sample: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Every tenth sampled customer viewed by an associate of another store they also follow on WeCom (the seeded
    brand's customers follow only their own store's associate): the scope check's follower path, whose cost must
    not grow with how many contacts that associate has."""
    stores = dict(Associate.objects.values_list("pk", "store_id"))
    by_store = {}  # a plain associate of each store (a manager's scope would read one more statement)
    for associate_id, store_id in (
        Associate.objects.exclude(role=Associate.Role.STORE_MANAGER).values_list("pk", "store_id").order_by("pk")
    ):
        by_store.setdefault(store_id, associate_id)
    viewed = []
    for n, (customer_id, associate_id) in enumerate(sample):
        if n % 10 == 0:
            other = next(a for s, a in sorted(by_store.items()) if s != stores[associate_id])
            FollowRelation.objects.get_or_create(
                associate_id=other,
                external_userid=f"bench-cross-{customer_id}",
                defaults={"customer_id": customer_id, "followed_at": timezone.now()},
            )
            viewed.append((customer_id, other))
        else:
            viewed.append((customer_id, associate_id))
    return viewed


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
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
