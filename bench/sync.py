"""The nightly contacts sync of a generated corp: N associates × M external contacts, end to end.

Target (issue 22, this 2-core machine, PostgreSQL + Redis broker): ≥ 5,000 relations/s in both passes (the
incremental one counts every relation WeCom lists, changed or not: each is read and compared), and flat worker memory
(each worker process's RSS at the end of the sync within FLAT_RSS_MB of its RSS once warm). At 5,000 associates × 4,000
contacts (20M relations) that is ≤ 67 minutes of Omni's work; WeCom's own limit puts a floor under the night too (one
batch/get_by_user call per 100 relations, at most WECOM_RATE_LIMIT_PER_HOUR an hour), and the JSON shows both.

The emulator runs in this process over HTTP with a generated corp (pages computed from their position, never the
whole corp in memory) and WeCom's limits; Celery worker processes run on the bulk queue against the scratch database
and the Redis broker of REDIS_URL. The clock starts when the sync is queued (what the nightly beat does) and stops
when its SyncRun is done. A second, incremental pass follows (the next night: `churn` of every associate's contacts
gone, as many new), which ends the vanished friendships. Then every relation is checked against the corp: 0 missing,
0 extra, one customer per person.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection

from associates.models import Associate, Store
from bench._servers import bench_emulator, database_url, omni_process, worker_cmd
from clientbook.models import FollowRelation
from customers.models import Customer
from omni.celery import app
from wecom.emulator.generated import GeneratedCorp
from wecom.models import SyncPart, SyncRun
from wecom.sync import sync_start
from wecom.tasks import wecom_sync_task

ASSOCIATES, CONTACTS_PER_ASSOCIATE = 500, 1000
WORKERS, CONCURRENCY = 2, 2
CHURN = 0.05
TARGET_RELATIONS_PER_S = 5000
FLAT_RSS_MB = 30
# A pass waits at most this long, or longer when WeCom's hourly budget makes it (a full-size corp: 1.7 h).
TIMEOUT_SECONDS = 1800
FULL_SIZE = (5000, 4000)


def add_arguments(parser) -> None:
    parser.add_argument("--associates", type=int, help=f"associates in the generated corp (default {ASSOCIATES})")
    parser.add_argument(
        "--contacts-per-associate", type=int, help=f"external contacts of each (default {CONTACTS_PER_ASSOCIATE})"
    )
    parser.add_argument("--workers", type=int, help=f"Celery worker processes on the bulk queue (default {WORKERS})")
    parser.add_argument("--concurrency", type=int, help=f"pool processes per worker (default {CONCURRENCY})")


def run(
    *,
    scale: float,
    log: Callable[[str], None],
    associates: int | None = None,
    contacts_per_associate: int | None = None,
    workers: int | None = None,
    concurrency: int | None = None,
) -> dict:
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        raise CommandError("bench sync measures PostgreSQL with a Redis broker: set DATABASE_URL and REDIS_URL")
    n = associates or max(10, int(ASSOCIATES * scale))
    m = contacts_per_associate or CONTACTS_PER_ASSOCIATE
    workers, concurrency = workers or WORKERS, concurrency or CONCURRENCY
    window = 2 * workers * concurrency
    with bench_emulator() as (emulator, wecom):
        corp = GeneratedCorp(
            **emulator.control("POST", "generated", {"associates": n, "contacts_per_associate": m, "churn": CHURN})[
                "generated"
            ]
        )
        _seed(corp, log)
        env = {**wecom, "REDIS_URL": os.environ["REDIS_URL"], "WECOM_SYNC_WINDOW": str(window)}
        with _workers(workers, concurrency, env) as mains:
            _wait_for_workers(workers)
            processes = _Processes(mains)
            timeout = max(TIMEOUT_SECONDS, 1.5 * 3600 * n * -(-m // 100) / settings.WECOM_RATE_LIMIT_PER_HOUR)
            full = _sync(emulator, processes, log, "full", timeout)
            full.update(_check(corp))
            corp = GeneratedCorp(**emulator.control("POST", "generated", {"generation": 1})["generated"])
            incremental = _sync(emulator, processes, log, "incremental", timeout)
            incremental.update(_check(corp))
            rss = processes.figures()
    relations_per_s = full["relations_per_s"]
    calls_per_page = 1  # batch/get_by_user, one member's 100 contacts a call
    full_n, full_m = FULL_SIZE
    full_calls = full_n * -(-full_m // 100) * calls_per_page
    omni_hours = full_n * full_m / relations_per_s / 3600 if relations_per_s else None
    wecom_floor_hours = full_calls / settings.WECOM_RATE_LIMIT_PER_HOUR
    flat = all(p["growth_mb"] <= FLAT_RSS_MB for p in rss)
    return {
        "machine": {"cpus": os.cpu_count()},
        "associates": n,
        "contacts_per_associate": m,
        "relations": n * m,
        "workers": workers,
        "concurrency_per_worker": concurrency,
        "window": window,
        "full": full,
        "incremental": incremental,
        "worker_rss_mb": rss,
        "extrapolated_20m": {
            "relations": full_n * full_m,
            "batch_get_by_user_calls": full_calls,
            "hours_at_measured_rate": round(omni_hours, 2) if omni_hours else None,
            "hours_floor_from_wecom_hourly_budget": round(wecom_floor_hours, 2),
            "hours": round(max(omni_hours or 0, wecom_floor_hours), 2),
        },
        "target_relations_per_s": TARGET_RELATIONS_PER_S,
        "target_rss_growth_mb": FLAT_RSS_MB,
        "met": relations_per_s >= TARGET_RELATIONS_PER_S
        and incremental["relations_per_s"] >= TARGET_RELATIONS_PER_S
        and flat
        and full["missing"] == full["extra"] == full["duplicate_customers"] == 0
        and incremental["missing"] == incremental["extra"] == 0,
    }


def _seed(corp: GeneratedCorp, log) -> None:
    started = time.perf_counter()
    stores = Store.objects.bulk_create(Store(code=f"SY{n:03d}", name=f"同步门店{n}") for n in range(50))
    Associate.objects.bulk_create(
        (
            Associate(wecom_userid=corp.userid(i), name=f"导购{i}", store=stores[i % len(stores)])
            for i in range(corp.associates)
        ),
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(f"{corp.associates:,} associates seeded in {time.perf_counter() - started:.1f}s")


def _wait_for_workers(count: int) -> None:
    """Until every worker answers a ping (booted, connected to the broker): the clock starts after."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=1.0) or []) >= count:
            return
    raise CommandError("the workers did not start")


class _workers:
    """Worker processes on the bulk queue, each a main process and its pool."""

    def __init__(self, count: int, concurrency: int, env: dict):
        self.count, self.concurrency, self.env = count, concurrency, env
        self.contexts = []

    def __enter__(self) -> list:
        for _ in range(self.count):
            context = omni_process(
                worker_cmd("bulk", self.concurrency), database_url=database_url(), extra_env=self.env
            )
            self.contexts.append((context, context.__enter__()))
        return [child for _, child in self.contexts]

    def __exit__(self, *exc) -> None:
        for context, _ in reversed(self.contexts):
            context.__exit__(*exc)


class _Processes:
    """Every worker process (main and pool) from /proc: RSS (`start` once the sync is under way and warm, then as it
    runs) and CPU; and the CPU of the database's backends and of this process (the emulator), to tell what one
    relation costs whatever else the machine is doing."""

    TICKS = os.sysconf("SC_CLK_TCK")

    def __init__(self, mains: list):
        self.mains = [main.pid for main in mains]
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.peak: dict[int, float] = {}
        # Database backends: pid -> [CPU when the pass began (0 for one opened since), CPU when last seen]. Celery
        # closes a task's connection when it ends, so backends come and go: they are sampled as the sync runs.
        self.backends: dict[int, list[float]] = {}

    def pids(self) -> list[int]:
        found = list(self.mains)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _parent(int(entry.name)) in self.mains:
                found.append(int(entry.name))
        return found

    def sample(self, *, warm: bool = False) -> None:
        for pid in self.pids():
            try:
                status = (Path("/proc") / str(pid) / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            rss, hwm = (int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))
            if warm:
                self.start.setdefault(pid, rss)
            self.last[pid] = rss
            self.peak[pid] = max(self.peak.get(pid, 0), hwm)

    def backends_sample(self, *, baseline: bool = False) -> None:
        if baseline:
            self.backends = {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            for (pid,) in cursor.fetchall():
                seconds = _cpu_seconds(pid, self.TICKS)
                seen = self.backends.setdefault(pid, [seconds if baseline else 0.0, seconds])
                seen[1] = max(seen[1], seconds)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: the workers', the database backends' (of this database, this pass, as sampled) and
        this process's (the emulator's)."""
        return {
            "workers": sum(_cpu_seconds(pid, self.TICKS) for pid in self.pids()),
            "postgres": sum(last - first for first, last in self.backends.values()),
            "emulator_and_bench": time.process_time(),
        }

    def figures(self) -> list[dict]:
        return [
            {
                "pid": pid,
                "role": "main" if pid in self.mains else "pool",
                "start_mb": round(self.start[pid], 1),
                "end_mb": round(self.last[pid], 1),
                "peak_mb": round(self.peak[pid], 1),
                "growth_mb": round(self.last[pid] - self.start[pid], 1),
            }
            for pid in sorted(self.start)
        ]


def _parent(pid: int) -> int | None:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):  # gone meanwhile
        return None


def _cpu_seconds(pid: int, ticks: int) -> float:
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def _sync(emulator, processes: _Processes, log, label: str, timeout: float) -> dict:
    emulator.control("POST", "calls/clear")
    processes.sample()
    processes.backends_sample(baseline=True)
    cpu_before = processes.cpu()
    started = time.perf_counter()
    run = sync_start(kind=SyncRun.Kind.CONTACTS)
    wecom_sync_task.delay(run.pk)
    deadline = started + timeout
    last_log = started
    parts = done = 0
    while time.perf_counter() < deadline:
        run.refresh_from_db()
        if run.status != SyncRun.Status.RUNNING:
            break
        parts = parts or run.state.get("parts", 0)
        done = SyncPart.objects.filter(run=run, status=SyncPart.Status.DONE).count()
        # Memory is compared from a tenth of the way into the first pass (imports done, connections open, the
        # first pages read) to the end: growth is then what the sync itself keeps.
        processes.sample(warm=bool(parts) and done >= parts / 10)
        processes.backends_sample()
        if time.perf_counter() - last_log > 10:
            log(f"{label}: {done} of {parts} associates done after {time.perf_counter() - started:.0f}s")
            last_log = time.perf_counter()
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    processes.sample(warm=True)
    processes.backends_sample()
    cpu = {name: round(value - cpu_before[name], 2) for name, value in processes.cpu().items()}
    totals = emulator.control("GET", "calls", api="none")["totals"]
    lost = sum(SyncPart.objects.filter(run=run).values_list("lost", flat=True))
    log(f"{label}: {run.status}, {run.items:,} relations in {seconds:.1f}s")
    omni_cpu = cpu["workers"] + cpu["postgres"]
    return {
        "status": run.status,
        "seconds": round(seconds, 2),
        "relations": run.items,
        "relations_per_s": round(run.items / seconds) if seconds else 0,
        "ended_as_vanished": lost,
        "wecom_calls": totals,
        "wecom_45009": sum(n for key, n in totals.items() if key.endswith(" 45009")),
        "cpu_seconds": cpu,
        # What Omni's side (workers and PostgreSQL, not the emulator) spends: a machine's cores over this figure
        # bound the rate whatever else shared this one during the run.
        "omni_cpu_ms_per_1000_relations": round(1_000_000 * omni_cpu / run.items, 1) if run.items else None,
        "cpu_bound_relations_per_s_all_cores": round(os.cpu_count() * run.items / omni_cpu) if omni_cpu else None,
    }


def _check(corp: GeneratedCorp) -> dict:
    """Every relation of this generation present and active, nothing else active, one customer per person; read
    associate by associate, so the check holds one associate's contacts at a time, not the corp's."""
    missing = extra = 0
    active = (
        FollowRelation.objects.filter(ended_at__isnull=True)
        .order_by("associate__wecom_userid")
        .values_list("associate__wecom_userid", "external_userid")
        .iterator(chunk_size=20_000)
    )
    seen: dict[str, set[str]] = {}
    for userid, external_userid in active:
        if userid not in seen:
            missing, extra = _compare(corp, seen, missing, extra)
            seen = {userid: set()}
        seen[userid].add(external_userid)
    missing, extra = _compare(corp, seen, missing, extra)
    listed = {corp.userid(i) for i in range(corp.associates)}
    synced = set(FollowRelation.objects.values_list("associate__wecom_userid", flat=True).distinct())
    missing += sum(corp.count(corp.index_of(userid)) for userid in listed - synced)
    return {
        "missing": missing,
        "extra": extra,
        "duplicate_customers": max(Customer.objects.count() - _persons_ever(corp), 0),
    }


def _compare(corp: GeneratedCorp, seen: dict[str, set[str]], missing: int, extra: int) -> tuple[int, int]:
    for userid, found in seen.items():
        index = corp.index_of(userid)
        slots = corp.slots(index, 0, corp.count(index)) if index is not None else range(0)
        expected = {corp.external_userid(corp.person(index, slot)) for slot in slots}
        missing, extra = missing + len(expected - found), extra + len(found - expected)
    return missing, extra


def _persons_ever(corp: GeneratedCorp) -> int:
    """The people of every generation up to this one (vanished friends stay customers)."""
    step = round(corp.churn * corp.contacts_per_associate)
    return corp.associates * (corp.contacts_per_associate + corp.generation * step)
