"""Whether partitioning the append-only logs pays: the retention of WeCom callback events, row by row against
whole partitions, at N events (default 1,000,000; issue 22 asks about 10,000,000).

Two tables hold the same N processed events, spread evenly over 60 days of receipt, about 300 bytes of payload
each: the partitioned `wecom_callbackevent` (daily partitions, its dedupe keys in `wecom_callbackeventkey`) and a
plain copy of the table as it was before (its unique dedupe key, its indexes). Retention at 30 days then removes
half of them: on the plain table with the statements the rule ran before (`batched_delete`: a batch of 5,000
primary keys per transaction), on the partitioned one with the rule as it is (wecom.retention: the 30 old days
dropped, and their keys' days). Printed: the seconds of each, the rows removed, and the table sizes after
(a DELETE leaves its space to VACUUM; a dropped partition gives it back at once). The partitioned prune removes a
little less: the day the cutoff falls in stays until it is wholly past. Target: the partitioned prune at least 10×
faster at the issue's 10M events (a drop costs the same whatever a day holds; a DELETE grows with the rows).
PostgreSQL only.
"""

import datetime as dt
import time
from collections.abc import Callable

from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from omni.partitions import partitions_create
from omni.retention import BATCH_SIZE
from wecom.retention import callback_events_prune

DAYS, RETENTION_DAYS = 60, 30
PLAIN = "bench_callbackevent_plain"
TARGET_SPEEDUP = 10


def add_arguments(parser) -> None:
    parser.add_argument("--events", type=int, help="bench partitions: callback events in each table.")


def run(*, scale: float, log: Callable[[str], None], events: int = 1_000_000) -> dict:
    if connection.vendor != "postgresql":
        raise CommandError("bench partitions measures PostgreSQL partitions: set DATABASE_URL=postgres://…")
    now = timezone.now()
    partitions_create(since=now - dt.timedelta(days=DAYS + 1))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.execute(f"CREATE TABLE {PLAIN} (LIKE wecom_callbackevent INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        # The table as it was before its partitioning (wecom/migrations/0001): its keys and indexes.
        cursor.execute(f"ALTER TABLE {PLAIN} ADD PRIMARY KEY (id), ADD UNIQUE (dedupe_key)")
        cursor.execute(f"CREATE INDEX ON {PLAIN} (status, received_at)")
        cursor.execute(f"CREATE INDEX ON {PLAIN} (received_at)")
        cursor.execute(f"CREATE INDEX ON {PLAIN} (dedupe_key varchar_pattern_ops)")
        rows = f"""
            SELECT n, md5(n::text) || md5((-n)::text), 'change_external_contact', 'add_external_contact',
                   jsonb_build_object('Event', 'change_external_contact', 'UserID', 'associate' || n %% 5000,
                                      'ExternalUserID', 'wm' || md5(n::text), 'Welcome', repeat('x', 180)),
                   'done', 1, '', %(now)s - (n %% {DAYS * 1440}) * interval '1 minute',
                   %(now)s - (n %% {DAYS * 1440}) * interval '1 minute' + interval '5 seconds'
            FROM generate_series(1, %(events)s) AS n
        """
        columns = "id, dedupe_key, event, change_type, payload, status, attempts, error, received_at, processed_at"
        params = {"now": now, "events": events}
        cursor.execute(f"INSERT INTO wecom_callbackevent ({columns}) {rows}", params)
        cursor.execute(
            "INSERT INTO wecom_callbackeventkey (dedupe_key, event_time) SELECT dedupe_key, received_at"
            " FROM wecom_callbackevent"
        )
        cursor.execute(f"INSERT INTO {PLAIN} ({columns}) {rows}", params)
        cursor.execute(f"VACUUM ANALYZE {PLAIN}")
        cursor.execute("VACUUM ANALYZE wecom_callbackevent")
        cursor.execute("VACUUM ANALYZE wecom_callbackeventkey")
    log(f"{events:,} events written twice in {time.perf_counter() - started:.0f}s")
    cutoff = now - dt.timedelta(days=RETENTION_DAYS)

    started = time.perf_counter()
    deleted = _plain_prune(cutoff)
    delete_seconds = time.perf_counter() - started
    log(f"plain table: {deleted:,} rows deleted in {delete_seconds:.1f}s")

    started = time.perf_counter()
    dropped = callback_events_prune(cutoff=cutoff, dry_run=False, batch_size=BATCH_SIZE)
    drop_seconds = time.perf_counter() - started
    log(f"partitioned table: {dropped:,} rows removed in {drop_seconds:.1f}s")
    speedup = round(delete_seconds / drop_seconds, 1)
    return {
        "events": events,
        "days": DAYS,
        "retention_days": RETENTION_DAYS,
        "rows_deleted_plain": deleted,
        "rows_removed_partitioned": dropped,
        "delete_seconds": round(delete_seconds, 2),
        "partition_prune_seconds": round(drop_seconds, 2),
        "speedup": speedup,
        "size_after_plain_mb": _size_mb(PLAIN),
        "size_after_partitioned_mb": _size_mb("wecom_callbackevent") + _size_mb("wecom_callbackeventkey"),
        "targets": {"speedup": TARGET_SPEEDUP},
        "met": speedup >= TARGET_SPEEDUP,
    }


def _plain_prune(cutoff: dt.datetime) -> int:
    """omni.retention.batched_delete's statements on the plain table: a batch of primary keys per transaction."""
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {PLAIN} WHERE status = 'done' AND processed_at < %s ORDER BY id LIMIT %s",
                [cutoff, BATCH_SIZE],
            )
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return deleted
            cursor.execute(f"DELETE FROM {PLAIN} WHERE id = ANY(%s)", [ids])
            deleted += cursor.rowcount


def _size_mb(table: str) -> int:
    """Heap, indexes and TOAST of the table, or of its partitions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c WHERE c.oid = to_regclass(%s)"
            " OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(%s))",
            [table, table],
        )
        return round(cursor.fetchone()[0] / 2**20)
