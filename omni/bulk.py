"""Fast bulk writes shared by the importer and the demo seeder.

PostgreSQL gets COPY (psycopg 3's `cursor.copy`), SQLite an `executemany` INSERT: both far faster than
per-row saves or `bulk_create` at hundreds of thousands of rows. Callers pass plain tuples already in
database form (ids, Decimals, aware datetimes), in the order of `columns`.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def bulk_copy(
    target: type[Model] | str, columns: Sequence[str], rows: Iterable[Sequence], *, cursor: Any = None
) -> int:
    """Insert `rows` into a model's table (or a table named `target`, e.g. a TEMP staging table).

    `columns` are database column names. Pass `cursor` to write through an open cursor. Returns the count.
    """
    if cursor is None:
        with connection.cursor() as own_cursor:
            return bulk_copy(target, columns, rows, cursor=own_cursor)
    table = connection.ops.quote_name(target if isinstance(target, str) else target._meta.db_table)
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    count = 0
    if is_postgres():
        with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    sql = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(columns))})"
    # SQLite has no time zones: store datetimes as the ORM does (naive UTC text), or exact filters miss them.
    adapt = connection.ops.adapt_datetimefield_value
    batch: list[Sequence] = []
    for row in rows:
        batch.append([adapt(v) if isinstance(v, datetime) else v for v in row])
        if len(batch) >= 5000:
            cursor.executemany(sql, batch)
            count += len(batch)
            batch.clear()
    if batch:
        cursor.executemany(sql, batch)
        count += len(batch)
    return count


def next_ids(model: type[Model], count: int) -> list[int]:
    """Reserve `count` primary keys for rows that will be inserted with explicit ids.

    On PostgreSQL they are drawn from the table's own sequence, so concurrent inserters and later
    ORM inserts never collide; on SQLite the database-wide writer lock, held by the caller's
    transaction, makes max(id) safe.
    """
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        if is_postgres():
            # The sequence is looked up once (a catalog lookup per row costs more than the nextval).
            cursor.execute(
                "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) "
                "SELECT nextval(s.seq) FROM s, generate_series(1, %s)",
                [table, pk, count],
            )
            return [r[0] for r in cursor.fetchall()]
        cursor.execute(f"SELECT COALESCE(MAX({pk}), 0) FROM {connection.ops.quote_name(table)}")
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))
