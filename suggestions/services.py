"""Writes of the suggestions app: building the suggestion model from all orders, and recording the products
associates send to customers.

A build streams every kept order line, sorted by customer, in chunks of whole customers (PostgreSQL: COPY … TO
STDOUT in binary, read by numpy in place, no Python object per row; on the replica when one is configured) into
`engine.model_build_streamed` with the catalog and the active complement rules, so that its memory is bounded by
the model rather than by the lines, and stores the pickled model in a `SuggestionModel` row. A failed build is
recorded with its error and leaves the previous ready build in use. At most one build runs at a time (a partial
unique index on "building").
"""

import logging
import pickle
import resource
import sys
import time
import traceback
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from psycopg import sql as pg_sql

from associates.models import Associate
from clientbook.selectors import customers_visible
from customers.models import Order, OrderLine, Product
from customers.selectors import customer_survivor_ids
from omni.errors import ApplicationError
from omni.replicas import read_alias, replica_reads
from suggestions import engine
from suggestions.models import ComplementRule, Outreach, SuggestionModel
from suggestions.selectors import KEPT_ORDER

logger = logging.getLogger(__name__)

KEEP_READY = 3  # ready builds kept; older rows are deleted
# A build still "building" after this long died with its process (the target is a minute at 10M lines).
STALE_AFTER = timedelta(hours=2)

_ORDER, _LINE = Order._meta.db_table, OrderLine._meta.db_table


def suggestion_model_build(*, now: datetime | None = None) -> SuggestionModel:
    """Build the model from every kept order line and store it; returns the row, ready or failed.

    `now` (default: the current time) is the day time decay counts from. Raises ApplicationError
    `suggestion_build_running` when another build is under way.
    """
    now = now or timezone.now()
    SuggestionModel.objects.filter(
        status=SuggestionModel.Status.BUILDING, started_at__lt=timezone.now() - STALE_AFTER
    ).update(status=SuggestionModel.Status.FAILED, error="构建进程中途退出")
    try:
        with transaction.atomic():
            build = SuggestionModel.objects.create()
    except IntegrityError:
        raise ApplicationError("suggestion_build_running", "已有推荐模型正在构建，请稍后再试。") from None
    started, memory = time.perf_counter(), _PeakMemory()
    try:
        lines = _Counted(_order_line_chunks())
        model = engine.model_build_streamed(lines, now=timezone.localdate(now), **_catalog())
        payload = zlib.compress(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        logger.exception("Suggestion model build #%s failed; the previous model stays in use", build.pk)
        build.status, build.error = SuggestionModel.Status.FAILED, traceback.format_exc(limit=20)
        build.seconds, build.peak_mb = time.perf_counter() - started, memory.peak_mb()
        build.save(update_fields=["status", "error", "seconds", "peak_mb"])
        return build
    build.status, build.built_at = SuggestionModel.Status.READY, timezone.now()
    build.lines, build.baskets, build.items = lines.lines, model.baskets, len(model.items)
    build.seconds, build.peak_mb = time.perf_counter() - started, memory.peak_mb()
    build.payload, build.payload_bytes = payload, len(payload)
    build.save()
    _old_builds_delete()
    return build


def _catalog() -> dict:
    """What a build knows of the catalog beside the lines: categories, the active rules, variant groups."""
    catalog = pd.DataFrame.from_records(
        Product.objects.values_list("pk", "category", "style_code", "sku"),
        columns=["pk", "category", "style_code", "sku"],
    ).set_index("pk")
    return {
        "item_categories": catalog["category"][catalog["category"] != ""],
        "category_rules": {
            rule.category: rule.complement_codes for rule in ComplementRule.objects.filter(is_active=True)
        },
        "item_group": catalog["style_code"].where(catalog["style_code"] != "", catalog["sku"]),
    }


def _old_builds_delete() -> None:
    """Keep the newest KEEP_READY ready builds and everything since the oldest of them."""
    ready = SuggestionModel.objects.filter(status=SuggestionModel.Status.READY).order_by("-built_at", "-pk")
    oldest_kept = list(ready.values_list("started_at", flat=True)[KEEP_READY - 1 : KEEP_READY])
    if oldest_kept:
        SuggestionModel.objects.filter(started_at__lt=oldest_kept[0]).exclude(
            status=SuggestionModel.Status.BUILDING
        ).delete()


# Lines per chunk of a streamed build (whole customers, so a few more): ~40 MB of arrays in hand, and few enough
# chunks that adding each one's co-occurrence to the running sums stays cheap.
CHUNK_LINES = 2_000_000

# Lines travel packed: a COPY row per block of CUSTOMER_BLOCK customer ids, holding its lines as fixed-width
# big-endian records (a message per line would cost the client more than the database takes to find them).
CUSTOMER_BLOCK = 1024
_PACKED_LINE = np.dtype([("customer", ">i8"), ("day", ">i4"), ("item", ">i8")])
_COPY_HEADER = 19  # signature, flags, header extension length (0)


def _order_line_chunks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every kept order line of a known customer as (customer_id, day, item_id) arrays, in chunks of whole
    customers in ascending order: the surviving customer of a merge, the local day of the order (days since
    1970-01-01), the product. PostgreSQL streams them sorted (COPY … TO STDOUT, binary); SQLite, the embedded demo
    database, reads them at once."""
    survivor, chunk_lines = customer_survivor_ids(), CHUNK_LINES
    with replica_reads():
        alias = read_alias()
        if connections[alias].vendor == "postgresql":
            yield from _order_line_chunks_postgres(connections[alias], survivor, chunk_lines)
            return
        customer, day, item = _order_lines_plain(connections[alias], survivor)
    order = np.argsort(customer, kind="stable")
    customer, day, item = customer[order], day[order], item[order]
    for start, stop in _whole_customers(customer, chunk_lines):
        yield customer[start:stop], day[start:stop], item[start:stop]


def _whole_customers(customer: np.ndarray, chunk_lines: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of chunks of about chunk_lines sorted lines that never split a customer."""
    start = 0
    while start < len(customer):
        stop = int(np.searchsorted(customer, customer[min(start + chunk_lines, len(customer)) - 1], side="right"))
        yield start, stop
        start = stop


def _order_lines_plain(db, survivor: dict[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    local_date, params = db.ops.datetime_cast_date_sql("o.placed_at", (), settings.TIME_ZONE)
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT o.customer_id, {local_date}, l.product_id FROM {_LINE} l JOIN {_ORDER} o ON o.id = l.order_id"
            f" WHERE o.customer_id IS NOT NULL AND {KEPT_ORDER}",
            params,
        )
        rows = cursor.fetchall()
    customer = np.array([survivor.get(row[0], row[0]) for row in rows], dtype=np.int64)
    day = np.array([row[1] for row in rows], dtype="datetime64[D]").astype(np.int64)
    item = np.array([row[2] for row in rows], dtype=np.int64)
    return customer, day, item


def _order_line_chunks_postgres(
    db, survivor: dict[int, int], chunk_lines: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The lines by block of surviving customers' ids, blocks in order, packed by PostgreSQL (string_agg of
    int8send…: a hash aggregate, not a sort of every line) and read by numpy in place; a chunk is whole blocks.

    COPY TO needs no server-side cursor, so it streams through PgBouncer in transaction mode too; the merges travel
    as two arrays, so the statement runs on a read-only replica."""
    merged = sorted(survivor)
    statement = pg_sql.SQL(
        "COPY (SELECT string_agg(int8send(c) || int4send(d) || int8send(p), '') FROM ("
        " SELECT COALESCE(m.survivor, o.customer_id) AS c,"
        " ((o.placed_at AT TIME ZONE {zone})::date - DATE '1970-01-01') AS d, l.product_id AS p"
        f" FROM {_LINE} l JOIN {_ORDER} o ON o.id = l.order_id"
        " LEFT JOIN unnest({merged}::int8[], {survivors}::int8[]) AS m(merged, survivor) ON m.merged = o.customer_id"
        f" WHERE o.customer_id IS NOT NULL AND {KEPT_ORDER}) AS lines"
        " GROUP BY c / {block} ORDER BY c / {block}) TO STDOUT (FORMAT BINARY)"
    ).format(
        zone=pg_sql.Literal(settings.TIME_ZONE),
        merged=pg_sql.Literal(merged),
        survivors=pg_sql.Literal([survivor[m] for m in merged]),
        block=pg_sql.Literal(CUSTOMER_BLOCK),
    )
    db.ensure_connection()
    pending, at, blocks, lines = bytearray(), _COPY_HEADER, [], 0
    with db.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for data in copy:
            pending += data
            # A row: its field count (1; -1 ends the data), the field's length, its bytes.
            while len(pending) >= at + 6 and int.from_bytes(pending[at : at + 2], "big", signed=True) == 1:
                length = int.from_bytes(pending[at + 2 : at + 6], "big")
                if len(pending) < at + 6 + length:
                    break
                blocks.append(np.frombuffer(pending[at + 6 : at + 6 + length], dtype=_PACKED_LINE))
                lines += len(blocks[-1])
                at += 6 + length
            del pending[:at]
            at = 0
            if lines >= chunk_lines:
                yield _columns(blocks)
                blocks, lines = [], 0
    if blocks:
        yield _columns(blocks)


def _columns(blocks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.concatenate(blocks)
    return rows["customer"].astype(np.int64), rows["day"].astype(np.int64), rows["item"].astype(np.int64)


class _Counted:
    """The chunks, counting their lines as they go by."""

    def __init__(self, chunks: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]):
        self.chunks, self.lines = chunks, 0

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for chunk in self.chunks:
            self.lines += len(chunk[0])
            yield chunk


class _PeakMemory:
    """The process's peak resident memory from now on, in MB.

    Linux lets a process reset its own high-water mark (/proc/self/clear_refs, "5"), so the peak is this
    build's even in a long-lived worker. Elsewhere it is getrusage's peak since the process started.
    tracemalloc would see only Python's allocations and slow a 10M-line build several times over.
    """

    def __init__(self):
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
            self.resettable = True
        except OSError:
            self.resettable = False

    def peak_mb(self) -> float:
        if self.resettable:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


# ---------------------------------------------------------------------------------------------------------
# Outreach


@dataclass(frozen=True)
class OutreachRecorded:
    outreach: Outreach
    created: bool  # False: a retry of a request already recorded


def outreach_record(
    *,
    associate: Associate,
    customer_id: int,
    sku: str,
    source: str,
    reason: str,
    request_id: uuid.UUID,
) -> OutreachRecorded:
    """Record that the associate sent the product to the customer. Idempotent by `request_id`: a retry
    returns the row the first request wrote and writes nothing.

    Raises ApplicationError: `customer_not_found` (404) for a customer the associate may not see,
    `unknown_product` for an unknown sku, `request_id_reused` (409) when the id was used for another send.
    """
    if source not in Outreach.Source.values:
        raise ApplicationError("invalid_source", f"未知的来源 {source}。", details={"source": source})
    existing = Outreach.objects.select_related("product").filter(request_id=request_id).first()
    if existing is None:
        customer = customers_visible(viewer=associate).filter(pk=customer_id).first()
        if customer is None:
            raise ApplicationError("customer_not_found", "客户不存在或不在您的可见范围内。", status_code=404)
        product = Product.objects.filter(sku=sku).first()
        if product is None:
            raise ApplicationError("unknown_product", f"商品 {sku} 不存在。", details={"sku": sku})
        try:
            with transaction.atomic():
                outreach = Outreach.objects.create(
                    request_id=request_id,
                    associate=associate,
                    store_id=associate.store_id,
                    customer=customer,
                    product=product,
                    source=source,
                    reason=reason[: Outreach._meta.get_field("reason").max_length],
                )
            return OutreachRecorded(outreach, created=True)
        except IntegrityError:
            # The same request, recorded by a concurrent retry between the look-up and the insert.
            existing = Outreach.objects.select_related("product").get(request_id=request_id)
    same_request = (existing.associate_id, existing.customer_id) == (associate.pk, customer_id)
    if not same_request or existing.product.sku != sku:
        raise ApplicationError("request_id_reused", "这个请求号已用于另一次发送，请重新生成。", status_code=409)
    return OutreachRecorded(existing, created=False)
