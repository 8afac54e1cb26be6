"""The sidebar APIs under load: profile and history latency at 10k customers and at N (default 100,000).

Targets (issues 4 and 22, this 2-core machine, PostgreSQL): p95 ≤ 30 ms, and p95 at N ≤ 1.3 × p95 at 10k; the
set of N built at ≥ 50,000 customers/s (the JSON gives the build's figures beside that target).

Each size is a PostgreSQL database of its own, `<DATABASE name>_bench_sidebar_<N>_l10`, built once and reused by
later runs (a marker table, written last, says a build finished; an unfinished one is dropped and built again).
The first BASE customers are the demo brand (seed_demo) at about 10 order lines per customer (the issue's brand:
20M customers, 200M lines); a larger set starts as a copy of the 10k set's database, and each table the sidebar
reads of a customer is emptied and loaded again by one binary COPY … FREEZE: the seed's rows, then its copies (ids
shifted per copy, unique text ending with the copy number), made in numpy from the seed's own COPY output, so every
copied customer has the seeded one's orders, lines, identities, tags, notes and follows. The COPY freezes the rows
and marks the pages all-visible as it writes them (the visibility map a VACUUM would leave); each table is then
analyzed and its indexes, the schema's own with its primary key, are built once over the loaded rows; the foreign
keys come back NOT VALID and are then validated, so the set's indexes and constraints are production's. Two
connections at once. The copied tables no other table references are UNLOGGED there (no WAL for their loads and
index builds; reads are the same).

Where a build's time goes (server CPU seconds, summed over the connections, on this shared machine): at 200k
customers COPY 4.5, index builds 14.7, ANALYZE 1.0, validating the keys 2.1, plus 2 in this process making the
copies; at 1M 21, 108, 1.5 and 12. The index builds are three quarters of it, nearly all of that their sorts (the
two unique text keys, the order lines' product and the orders' store the dearest), and their cost per row grows with
the set: with production's indexes two cores cannot build 50,000 customers/s (about 7,000 customers a server CPU
second at 1M, 8,000 at 200k, where the INSERT … SELECT build this replaced took 7,400 without validating its keys).
A set needs about 4.1 GB of disk a million customers, and during its build room for the sorts' temporary files and,
for the two logged tables, the WAL.

Omni runs as uWSGI (uwsgi.ini, 4 workers); client processes, each signed in as an associate who may see the
customer (their own, or every tenth a cross-store follower: a real session), GET the profile and the order history
of random customers, every request on a fresh connection.
"""

import json
import math
import multiprocessing
import os
import random
import statistics
import struct
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from importlib import import_module

import numpy as np
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
COPIES_PER_WRITE = 4  # seed copies made and sent to the COPY at once (about 40 MB of order lines)
# The copied tables no other table references, UNLOGGED in the large sets: their loads and index builds write no
# WAL. Reads of an unlogged table are a logged one's (same pages, same buffers); a
# server restart empties them, and the next run builds the set again.
UNLOGGED = [
    "customers_orderline",
    "customers_identity",
    "customers_customertag",
    "customers_customernote",
    "associates_followrelation",
]

# What a copy shifts: table -> (columns shifted by the copy number × the base's largest id of the table named,
# text columns made unique per copy by a `~` and the copy number). Every other column is copied as it is.
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
    else:
        # Visibility maps and statistics, as a live database has them; two tables at a time. (A larger set's copied
        # tables have theirs from their COPY … FREEZE and ANALYZE, its other tables the seed's, copied with it.)
        connection.close()
        vacuumed = time.perf_counter()
        _parallel(name, [[f"VACUUM (ANALYZE) {table}"] for table in _tables_by_size(name)])
        figures["vacuum_seconds"] = round(time.perf_counter() - vacuumed, 1)
    with connection.cursor() as cursor:
        seconds = round(time.perf_counter() - started, 1)
        figures.update(seconds=seconds, customers_per_s=round(customers / seconds))
        cursor.execute("SELECT pg_database_size(current_database())")
        figures["database_gb"] = round(cursor.fetchone()[0] / 2**30, 2)  # the disk a set needs: about linear in N
        cursor.execute(f"CREATE TABLE {BUILT} (figures jsonb NOT NULL)")
        cursor.execute(f"INSERT INTO {BUILT} VALUES (%s::jsonb)", [json.dumps(figures)])
    log(f"built {customers:,} customers in {seconds}s ({figures['customers_per_s']:,} customers/s)")
    return name, {**figures, "reused": False}


def _copies_write(*, name: str, customers: int, log, base: int = BASE) -> dict:
    """Copy the seeded customers, with everything the sidebar reads of them, until there are `customers`.

    Each copied table is emptied and loaded again in one transaction by one binary COPY … FREEZE (its rows frozen and
    its pages marked all-visible as they are written: no VACUUM reads it again), the seed's rows first, then the
    copies, made in numpy from the seed's own COPY output by shifting its ids. Its indexes (primary key included) are
    then built once over the loaded rows and it is analyzed; two connections at once, the largest tables first. The
    seeded customers are ids 1…`base`."""
    copies = math.ceil(customers / base)  # copy 0 is the seed itself
    width = len(str(copies - 1))  # unique text ends with the copy number zero-padded: every copy the same length
    part = customers % base  # the last copy may be partial, a customer's rows all coming with it
    with psycopg.connect(_url(name), autocommit=True) as conn:
        largest = {table: conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0] for table in COPIED}
        if conn.execute("SELECT MIN(id) FROM customers_customer").fetchone()[0] < 1 or largest[_CUSTOMER] != base:
            raise CommandError(f"the seeded customers are not ids 1…{base}; drop the data set and build it again")
        started = time.perf_counter()
        templates = {
            table: (
                _template(conn, table, largest, width=width, upto=None),
                _template(conn, table, largest, width=width, upto=part) if part else None,
            )
            for table in COPIED
        }
        seeds = {
            table: _copy_out(conn, f"SELECT {', '.join(templates[table][0].columns)} FROM {table} ORDER BY id")
            for table in COPIED
        }
        read = time.perf_counter() - started
        rebuilt, keys = _constraints_dropped(conn, list(COPIED))
    whole = copies - 1 if not part else copies - 2
    # Per phase, summed over the connections: wall seconds, and CPU seconds of their server processes and of this
    # process's thread making the copies (the machine may be shared: CPU seconds are what a phase costs).
    seconds = {phase: [0.0, 0.0, 0.0] for phase in ("load", "index", "analyze", "validate")}
    detail = []

    def timed(conn, phase: str, work: Callable[[], None], what: str) -> None:
        wall, server, own = time.perf_counter(), _server_cpu(conn), time.thread_time()
        work()
        spent = (time.perf_counter() - wall, _server_cpu(conn) - server, time.thread_time() - own)
        seconds[phase] = [total + more for total, more in zip(seconds[phase], spent, strict=True)]
        detail.append((spent, what))

    def table_load(conn, table: str) -> list:
        copy, partial = templates[table]

        def load() -> None:
            with conn.transaction():
                conn.execute(f"TRUNCATE {table}")
                columns = ", ".join(copy.columns)
                with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT binary, FREEZE)") as out:
                    out.write(_COPY_HEADER)
                    out.write(seeds[table])
                    for first in range(1, whole + 1, COPIES_PER_WRITE):
                        out.write(copy.copies(np.arange(first, min(whole, first + COPIES_PER_WRITE - 1) + 1)))
                    if partial:
                        out.write(partial.copies(np.array([copies - 1])))
                    out.write(_COPY_TRAILER)

        timed(conn, "load", load, f"COPY {table}")
        log(f"  {table}: {customers:,} customers' rows loaded")
        return [(statement_run, "index", statement) for statement in rebuilt[table]] + [
            (statement_run, "analyze", f"ANALYZE {table}")
        ]

    def statement_run(conn, phase: str, statement: str) -> list:
        timed(conn, phase, lambda: conn.execute(statement), statement)
        return []

    started = time.perf_counter()
    sizes = {table: len(seeds[table]) for table in COPIED}
    _jobs_run(name, [(table_load, table) for table in sorted(COPIED, key=lambda table: -sizes[table])])
    built = time.perf_counter() - started
    with psycopg.connect(_url(name), autocommit=True) as conn:
        for _, _, statement in keys:
            conn.execute(statement)
        for table in COPIED:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        unchecked = {row[0] for row in conn.execute("SELECT conname FROM pg_constraint WHERE NOT convalidated")}
    validations = [
        (statement_run, "validate", f'ALTER TABLE {table} VALIDATE CONSTRAINT "{key}"')
        for table, key, _ in sorted(keys, key=lambda k: -sizes.get(k[0], 0))
        if key in unchecked
    ]
    started = time.perf_counter()
    _jobs_run(name, validations)
    validated = time.perf_counter() - started
    for (wall, server, own), what in sorted(detail, key=lambda item: -item[0][1])[:10]:
        log(f"    {wall:5.1f}s (server CPU {server:5.1f}s, client CPU {own:4.1f}s) {what[:100]}")
    log(
        f"  seed read in {read:.1f}s; loaded, indexed and analyzed in {built:.0f}s, keys validated in {validated:.0f}s;"
        " summed over the connections"
        " (wall/server CPU/client CPU): "
        + ", ".join(f"{phase} {w:.0f}/{s:.0f}/{c:.0f}s" for phase, (w, s, c) in seconds.items())
    )
    return {
        "seed_read_seconds": round(read, 1),
        "copy_index_analyze_seconds": round(built, 1),
        "validate_seconds": round(validated, 1),
        "phases_summed": {
            phase: {"seconds": round(w, 1), "server_cpu_seconds": round(s, 1), "client_cpu_seconds": round(c, 1)}
            for phase, (w, s, c) in seconds.items()
        },
    }


def _server_cpu(conn) -> float:
    """CPU seconds used so far by the connection's server process; 0 unless the server runs on this machine."""
    if conn.info.host not in ("127.0.0.1", "localhost", "::1") and not conn.info.host.startswith("/"):
        return 0.0
    with open(f"/proc/{conn.info.backend_pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_CUSTOMER = "customers_customer"
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_COPY_HEADER = _COPY_SIGNATURE + bytes(8)  # no flags, no header extension
_COPY_TRAILER = b"\xff\xff"
_FIELD_LENGTH = struct.Struct(">i")


@dataclass(frozen=True)
class _Template:
    """A copy of a table's seeded rows as COPY's binary format has them (without header and trailer), and where a
    copy changes them: the ids (shifted by the copy number × their table's largest seeded id) and the zero-padded copy
    number ending each unique text value."""

    columns: list[str]
    body: np.ndarray  # bytes
    ids: np.ndarray  # the seeded ids' values
    shifts: np.ndarray  # what one copy adds to each of them
    id_bytes: np.ndarray  # where their 8 bytes are in `body`, 8 offsets an id
    digit_bytes: np.ndarray  # where the copy number's digits are, `width` offsets a value
    width: int

    def copies(self, numbers: np.ndarray) -> memoryview:
        """The rows of copies `numbers`, one after another."""
        block = np.tile(self.body, len(numbers)).reshape(len(numbers), -1)
        ids = (self.ids + numbers[:, None] * self.shifts).astype(">i8").view(np.uint8)
        digits = (numbers[:, None] // 10 ** np.arange(self.width - 1, -1, -1) % 10 + ord("0")).astype(np.uint8)
        repeats = len(self.digit_bytes) // max(self.width, 1)
        for n, copy in enumerate(block):
            copy[self.id_bytes] = ids[n]
            copy[self.digit_bytes] = np.tile(digits[n], repeats)
        return memoryview(block.reshape(-1))


def _template(conn, table: str, largest: dict[str, int], *, width: int, upto: int | None) -> _Template:
    """The seeded rows of `table` (of customers 1…`upto` if given) in id order, their unique text ending with `~`
    and `width` zeros; parsed once for where each copy's changes go."""
    shifted, unique_text = COPIED[table]
    columns = [
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            [table],
        )
    ]
    select = [f"t.{c} || '~' || repeat('0', {width})" if width and c in unique_text else f"t.{c}" for c in columns]
    source, where = f"{table} AS t", "true"
    if upto and table == _CUSTOMER:
        where = f"t.id <= {upto}"
    elif upto and table == "customers_orderline":
        source += " JOIN customers_order AS o ON o.id = t.order_id"
        where = f"o.customer_id <= {upto}"
    elif upto:
        where = f"t.customer_id <= {upto}"
    data = _copy_out(conn, f"SELECT {', '.join(select)} FROM {source} WHERE {where} ORDER BY t.id")
    shift_of = {n: largest[shifted[c]] for n, c in enumerate(columns) if c in shifted}
    text = {n for n, c in enumerate(columns) if width and c in unique_text}
    at, shifts, digits = [], [], []
    unpack, position, fields = _FIELD_LENGTH.unpack_from, 0, range(len(columns))
    while position < len(data):
        position += 2  # the row's field count
        for n in fields:
            (length,) = unpack(data, position)
            position += 4
            if length > 0:
                if n in shift_of:
                    at.append(position)
                    shifts.append(shift_of[n])
                elif n in text:
                    digits.append(position + length - width)
                position += length
    body, at = np.frombuffer(data, np.uint8), np.array(at, np.int64)
    id_bytes = (at[:, None] + np.arange(8)).reshape(-1)
    return _Template(
        columns=columns,
        body=body,
        ids=body[id_bytes].view(">i8").astype(np.int64),
        shifts=np.array(shifts, np.int64),
        id_bytes=id_bytes,
        digit_bytes=(np.array(digits, np.int64)[:, None] + np.arange(width)).reshape(-1),
        width=width,
    )


def _copy_out(conn, query: str) -> bytes:
    """The rows of a query in COPY's binary format, without header and trailer."""
    with conn.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
        data = b"".join(bytes(block) for block in copy)
    if not data.startswith(_COPY_SIGNATURE) or not data.endswith(_COPY_TRAILER):
        raise CommandError("unexpected COPY output")
    start = len(_COPY_SIGNATURE) + 8 + _FIELD_LENGTH.unpack_from(data, len(_COPY_SIGNATURE) + 4)[0]
    return data[start : len(data) - len(_COPY_TRAILER)]


def _jobs_run(name: str, jobs: list) -> None:
    """Run each job `(function, *arguments)` as `function(conn, *arguments)`, two at a time, each on a connection of
    its own; the jobs a job answers run after the ones already waiting."""

    def job_run(job) -> list:
        function, *arguments = job
        with psycopg.connect(_url(name), autocommit=True) as conn:
            conn.execute("SET jit = off")  # compiling each statement costs more than it saves here
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")  # two builds at once already use both cores
            return function(conn, *arguments)

    with ThreadPoolExecutor(2) as pool:
        waiting = {pool.submit(job_run, job) for job in jobs}
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                waiting |= {pool.submit(job_run, job) for job in future.result()}


def _parallel(name: str, scripts: list[list[str]]) -> None:
    """Run each script (its statements in order) on a connection of its own, two at a time."""
    _jobs_run(name, [(_script_run, script) for script in scripts if script])


def _script_run(conn, statements: list[str]) -> list:
    for statement in statements:
        conn.execute(statement)
    return []


def _tables_by_size(name: str) -> list[str]:
    with psycopg.connect(_url(name), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            " ORDER BY pg_relation_size(oid) DESC"
        ).fetchall()
    return [row[0] for row in rows]


def _constraints_dropped(conn, tables: list[str]) -> tuple[dict[str, list[str]], list[tuple[str, str, str]]]:
    """Drop the tables' indexes and constraints that have one (primary keys included), and the foreign keys from or
    to them; answer the statements that build them again: for each table its primary key, unique constraints and
    other indexes; then the foreign keys (table, name, statement)."""
    constraints = conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype,"
        " (SELECT relkind = 'p' FROM pg_class WHERE oid = conrelid) FROM pg_constraint WHERE conparentid = 0"
        " AND ((contype IN ('p', 'u', 'f') AND conrelid = ANY(%(t)s::regclass[]))"
        " OR (contype = 'f' AND confrelid = ANY(%(t)s::regclass[]))) ORDER BY 1, 2",
        {"t": tables},
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
        " FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[])"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u'))"
        " ORDER BY 1, 2",
        [tables],
    ).fetchall()
    for table, name, _, _, _ in sorted(constraints, key=lambda c: "fup".index(c[3])):  # foreign keys first
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for _, name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    rebuilt = {table: [] for table in tables}
    for table, name, definition, kind, _ in sorted(constraints, key=lambda c: "pu".find(c[3])):
        if kind in "pu":
            rebuilt[table].append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for table, _, definition in indexes:
        rebuilt[table].append(definition)
    # Each foreign key comes back NOT VALID (a catalog change), then is validated on its own (a join over the tables
    # that takes no lock against the other builds): PostgreSQL adds a partitioned table's (the audit log's) valid.
    keys = [
        (table, name, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}{"" if partitioned else " NOT VALID"}')
        for table, name, definition, kind, partitioned in constraints
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
