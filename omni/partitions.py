"""Native time partitions of the append-only logs (PostgreSQL's `PARTITION BY RANGE` on their timestamp), so that
retention drops a whole partition instead of deleting its rows one by one.

An app registers each of its partitioned tables from its `AppConfig.ready()` with `partitioned_table(...)`, as it
registers its retention rules; this module imports no app. A registered table is partitioned by its own migration
(`table_partition`, run on PostgreSQL only: on SQLite the table stays as it is and every function here falls back to
the plain path). Partitions are named `<table>_p<YYYYMMDD>` after the first moment they hold (midnight UTC, the
first of the month for monthly ones); `<table>_default` takes a row no partition covers (none, while
`partitions_create` runs daily: the beat task `omni.tasks.partitions_create_task` and every `migrate` create
`ahead` partitions past the current one), and a partition created later over rows the default partition holds
takes them over.

Retention (`partitions_prune`, called by the app's retention rule with the rows past their period): a partition
whose whole range is past the cutoff and whose every row is past its period is dropped; one still holding a row to
keep (a callback event not processed yet) has its other rows deleted in batches, as do the default partition's.
A row is therefore kept at least its period and at most its period plus one partition's span.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import BigIntegerField, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.signals import post_migrate
from django.utils import timezone

from omni.retention import batched_delete

logger = logging.getLogger(__name__)

DAY, MONTH = "day", "month"


@dataclass(frozen=True)
class PartitionedTable:
    table: str
    column: str  # the timestamp partitioned on (timestamptz, never updated to another period in practice)
    interval: str  # DAY or MONTH
    ahead: int  # partitions kept ready past the current one


@dataclass(frozen=True)
class Partition:
    name: str
    start: dt.datetime
    end: dt.datetime  # exclusive


_tables: dict[str, PartitionedTable] = {}


def partitioned_table(table: str, *, column: str, interval: str, ahead: int) -> PartitionedTable:
    """Register `table` as partitioned on `column` by `interval`, with `ahead` partitions made in advance."""
    if interval not in (DAY, MONTH):
        raise ValueError(f"interval must be {DAY!r} or {MONTH!r}, not {interval!r}")
    _tables[table] = PartitionedTable(table=table, column=column, interval=interval, ahead=ahead)
    return _tables[table]


def partitioned_tables() -> dict[str, PartitionedTable]:
    return dict(sorted(_tables.items()))


def period_start(moment: dt.datetime, interval: str) -> dt.datetime:
    moment = moment.astimezone(dt.UTC)
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.replace(day=1) if interval == MONTH else start


def period_next(start: dt.datetime, interval: str) -> dt.datetime:
    if interval == DAY:
        return start + dt.timedelta(days=1)
    return (start + dt.timedelta(days=32)).replace(day=1)


def is_partitioned(table: str) -> bool:
    """Whether `table` is a partitioned table here (never on SQLite)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [table])
        return cursor.fetchone() is not None


def partitions(table: str) -> list[Partition]:
    """The range partitions of `table`, oldest first (the default partition apart)."""
    spec = _tables[table]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(%s) ORDER BY 1",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = []
    for name in names:
        suffix = name.removeprefix(f"{table}_p")
        if suffix == name:
            continue  # the default partition
        start = dt.datetime.strptime(suffix, "%Y%m%d").replace(tzinfo=dt.UTC)
        found.append(Partition(name=name, start=start, end=period_next(start, spec.interval)))
    return found


def partitions_create(*, now: dt.datetime | None = None, since: dt.datetime | None = None) -> list[str]:
    """Create, for every registered table partitioned here, the partitions missing from the current period (or
    `since`'s: a backfill of older periods) up to `ahead` past the current one; answers the names created. Safe to
    run again."""
    now = now or timezone.now()
    created = []
    for spec in partitioned_tables().values():
        if not is_partitioned(spec.table):
            continue
        existing = {partition.start for partition in partitions(spec.table)}
        start = period_start(min(since or now, now), spec.interval)
        if existing and not since:
            start = min(start, max(existing))  # no gap after the newest, however long the task did not run
        last = period_start(now, spec.interval)
        for _ in range(spec.ahead):
            last = period_next(last, spec.interval)
        while start <= last:
            if start not in existing:
                created.append(_partition_add(spec, start))
            start = period_next(start, spec.interval)
    if created:
        logger.info("partitions created: %s", ", ".join(created))
    return created


def _partition_add(spec: PartitionedTable, start: dt.datetime) -> str:
    """Add the partition starting at `start`; rows of its range the default partition holds move into it."""
    table, name, default = spec.table, f"{spec.table}_p{start:%Y%m%d}", f"{spec.table}_default"
    bounds = f"FOR VALUES FROM ('{start.isoformat()}') TO ('{period_next(start, spec.interval).isoformat()}')"
    in_range = f"{spec.column} >= %s AND {spec.column} < %s"
    with transaction.atomic(), connection.cursor() as cursor:
        # Adding a partition locks the whole table for a moment: never queue the log's writers behind a long reader
        # (the run fails instead, and the next day's makes the partition, days before it is needed).
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        # The default partition is locked first, so no row of the range can arrive in it meanwhile.
        cursor.execute(f"LOCK TABLE {default} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {in_range})", [start, _end(spec, start)])
        if not cursor.fetchone()[0]:
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} {bounds}")
            return name
        cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(f"INSERT INTO {name} SELECT * FROM {default} WHERE {in_range}", [start, _end(spec, start)])
        cursor.execute(f"DELETE FROM {default} WHERE {in_range}", [start, _end(spec, start)])
        cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} {bounds}")
    return name


def _end(spec: PartitionedTable, start: dt.datetime) -> dt.datetime:
    return period_next(start, spec.interval)


def partitions_prune(*, table: str, expired: QuerySet, cutoff: dt.datetime, dry_run: bool, batch_size: int) -> int:
    """Retention of a partitioned table: `expired` are its rows past their period (the rule of the plain path),
    `cutoff` the moment before which a partition may go. Answers the rows removed (or that would be)."""
    if not is_partitioned(table):
        return batched_delete(expired, dry_run=dry_run, batch_size=batch_size)
    column = _tables[table].column
    rows = 0
    for partition in partitions(table):
        if partition.end > cutoff:
            break
        rows += _partition_prune(
            partition,
            expired.filter(**{f"{column}__gte": partition.start, f"{column}__lt": partition.end}),
            dry_run=dry_run,
            batch_size=batch_size,
        )
    # The default partition's rows (those no range partition covered when they were written), one by one.
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::oid", [f"{table}_default"])
        default = cursor.fetchone()[0]
    held_by = RawSQL(f"{connection.ops.quote_name(table)}.tableoid", (), output_field=BigIntegerField())
    outside = expired.alias(held_by=held_by).filter(held_by=default)
    return rows + batched_delete(outside, dry_run=dry_run, batch_size=batch_size)


def _partition_prune(partition: Partition, expired: QuerySet, *, dry_run: bool, batch_size: int) -> int:
    """Drop the partition if every row it holds is expired, else delete its expired rows in batches."""
    with transaction.atomic(), connection.cursor() as cursor:
        if not dry_run:
            # Nothing changes in it between the count and the drop; an old partition is not waited for long.
            cursor.execute("SET LOCAL lock_timeout = '10s'")
            cursor.execute(f"LOCK TABLE {partition.name} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"SELECT COUNT(*) FROM {partition.name}")
        held = cursor.fetchone()[0]
        gone = expired.count()
        if held == gone:
            if not dry_run:
                # Deferred foreign-key checks of this transaction's own writes would forbid the drop: run them now.
                connection.check_constraints()
                cursor.execute(f"DROP TABLE {partition.name}")
                logger.info("partition %s dropped (%d rows)", partition.name, held)
            return held
    return batched_delete(expired, dry_run=dry_run, batch_size=batch_size)


# Migrations -----------------------------------------------------------------------------------------------------


def table_partition(
    schema_editor,
    *,
    table: str,
    column: str,
    interval: str,
    ahead: int,
    back_days: int,
    unique_dropped: tuple[str, ...] = (),
) -> None:
    """Turn `table` into a table partitioned by range on `column`, in the migration's transaction (PostgreSQL;
    nothing on SQLite). Its rows move into partitions (those of the last `back_days` days; older rows into the
    default one); its columns, defaults, identity sequence (continuing after the largest id), check constraints,
    indexes and foreign keys keep their names. The primary key gains `column` ((id) becomes (id, `column`)):
    PostgreSQL's unique indexes on a partitioned table must hold the partition key. A unique constraint without
    `column` cannot stay: it must be named in `unique_dropped` (the caller keeps that uniqueness some other way)
    and becomes a plain index of the same name. No other table may reference this one (a foreign key to it would
    have to hold `column`)."""
    if schema_editor.connection.vendor == "postgresql":
        _table_rebuild(
            schema_editor,
            table=table,
            column=column,
            interval=interval,
            ahead=ahead,
            back_days=back_days,
            unique_swapped=unique_dropped,
        )


def table_unpartition(
    schema_editor, *, table: str, primary_key: tuple[str, ...] = ("id",), unique_restored: tuple[str, ...] = ()
) -> None:
    """The reverse of `table_partition`: a plain table again, with `primary_key`, the plain indexes named in
    `unique_restored` unique constraints again."""
    if schema_editor.connection.vendor == "postgresql":
        _table_rebuild(schema_editor, table=table, column=None, primary_key=primary_key, unique_swapped=unique_restored)


def _table_rebuild(
    schema_editor,
    *,
    table: str,
    column: str | None,
    unique_swapped: tuple[str, ...],
    interval: str = DAY,
    ahead: int = 0,
    back_days: int = 0,
    primary_key: tuple[str, ...] = (),
) -> None:
    """Copy `table` into a new one of the same name, partitioned on `column` (or plain when None), and give it back
    its constraints and indexes by name."""
    quote = schema_editor.connection.ops.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT conname FROM pg_constraint WHERE contype = 'f' AND confrelid = to_regclass(%s)", [table])
        referencing = [row[0] for row in cursor.fetchall()]
        if referencing:
            raise RuntimeError(f"{table} is referenced by {referencing}: a partitioned table cannot be")
        cursor.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = to_regclass(%s) AND contype IN ('p', 'u', 'f') ORDER BY contype DESC, conname",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = to_regclass(%s)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY 1",
            [table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, attname) FROM pg_attribute WHERE attrelid = to_regclass(%s)"
            " AND attname = 'id'",
            [table, table],
        )
        sequence = (cursor.fetchone() or [None])[0]
        old = f"{table}__old"
        cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
        cursor.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS"
            f" INCLUDING STORAGE INCLUDING COMMENTS)" + (f" PARTITION BY RANGE ({column})" if column else "")
        )
        if column:
            cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
            cursor.execute(f"SELECT MIN({column}) FROM {old}")
            now = timezone.now()
            start = period_start(max(cursor.fetchone()[0] or now, now - dt.timedelta(days=back_days)), interval)
            last = period_start(now, interval)
            for _ in range(ahead):
                last = period_next(last, interval)
            while start <= last:
                end = period_next(start, interval)
                cursor.execute(
                    f"CREATE TABLE {table}_p{start:%Y%m%d} PARTITION OF {table}"
                    f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                )
                start = end
        cursor.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        cursor.execute(f"DROP TABLE {old}")  # with its partitions, indexes and its identity's sequence
        if sequence:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            cursor.execute(f"ALTER SEQUENCE {cursor.fetchone()[0]} RENAME TO {quote(sequence.split('.')[-1])}")
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}",
                [table],
            )
        for name, kind, definition in constraints:
            if kind == "p":
                key = list(primary_key or _columns(definition))
                key += [column] if column and column not in key else []
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} PRIMARY KEY ({', '.join(key)})")
            elif kind == "u" and column and column not in _columns(definition):
                if name not in unique_swapped:
                    raise RuntimeError(f"{table}: the unique constraint {name} cannot hold on a partitioned table")
                cursor.execute(f"CREATE INDEX {quote(name)} ON {table} {definition.removeprefix('UNIQUE ')}")
            else:
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}")
        for name, definition in indexes:
            if not column and name in unique_swapped:
                on = definition[definition.index("(") :]
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} UNIQUE {on}")
            else:
                # A partitioned table's index reads "ON ONLY <table>": here it covers every partition.
                cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))


def _columns(definition: str) -> list[str]:
    return [c.strip().strip('"') for c in definition[definition.index("(") + 1 : definition.rindex(")")].split(",")]


def _on_migrate(*, using: str = "default", **kwargs) -> None:
    if using == "default":
        partitions_create()


post_migrate.connect(_on_migrate, dispatch_uid="omni.partitions.partitions_create")
