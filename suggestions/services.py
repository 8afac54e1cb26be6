"""Writes of the suggestions app: building the suggestion model from all orders, and recording the products
associates send to customers.

A build reads every kept order line (PostgreSQL: packed into a few byte strings per million rows and unpacked
by numpy, no Python object per row), hands them to `engine.model_build` with the catalog and the active
complement rules, and stores the pickled model in a `SuggestionModel` row. A failed build is recorded with its
error and leaves the previous ready build in use. At most one build runs at a time (a partial unique index on
"building").
"""

import logging
import pickle
import resource
import sys
import time
import traceback
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from associates.models import Associate
from clientbook.selectors import customers_visible
from customers.models import Order, OrderLine, Product
from customers.selectors import customer_survivor_ids
from omni.bulk import is_postgres
from omni.errors import ApplicationError
from suggestions import engine
from suggestions.models import ComplementRule, Outreach, SuggestionModel
from suggestions.selectors import KEPT_LINE, KEPT_ORDER, KEPT_ORDER_STATUS

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
        baskets = _order_lines()
        catalog = pd.DataFrame.from_records(
            Product.objects.values_list("pk", "category", "style_code", "sku"),
            columns=["pk", "category", "style_code", "sku"],
        ).set_index("pk")
        categorised = catalog[catalog["category"] != ""]
        model = engine.model_build(
            baskets,
            now=timezone.localdate(now),
            item_categories=categorised["category"],
            category_rules={
                rule.category: rule.complement_codes for rule in ComplementRule.objects.filter(is_active=True)
            },
            item_group=catalog["style_code"].where(catalog["style_code"] != "", catalog["sku"]),
        )
        payload = zlib.compress(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        logger.exception("Suggestion model build #%s failed; the previous model stays in use", build.pk)
        build.status, build.error = SuggestionModel.Status.FAILED, traceback.format_exc(limit=20)
        build.seconds, build.peak_mb = time.perf_counter() - started, memory.peak_mb()
        build.save(update_fields=["status", "error", "seconds", "peak_mb"])
        return build
    build.status, build.built_at = SuggestionModel.Status.READY, timezone.now()
    build.lines, build.baskets, build.items = len(baskets), model.baskets, len(model.items)
    build.seconds, build.peak_mb = time.perf_counter() - started, memory.peak_mb()
    build.payload, build.payload_bytes = payload, len(payload)
    build.save()
    _old_builds_delete()
    return build


def _old_builds_delete() -> None:
    """Keep the newest KEEP_READY ready builds and everything since the oldest of them."""
    ready = SuggestionModel.objects.filter(status=SuggestionModel.Status.READY).order_by("-built_at", "-pk")
    oldest_kept = list(ready.values_list("started_at", flat=True)[KEEP_READY - 1 : KEEP_READY])
    if oldest_kept:
        SuggestionModel.objects.filter(started_at__lt=oldest_kept[0]).exclude(
            status=SuggestionModel.Status.BUILDING
        ).delete()


def _order_lines() -> pd.DataFrame:
    """Every kept order line of a known customer as (customer_id, date, item_id): the surviving customer of a
    merge, the local date of the order, the product."""
    if is_postgres():
        customer, day, item = _order_lines_postgres()
    else:
        local_date, params = connection.ops.datetime_cast_date_sql("o.placed_at", (), settings.TIME_ZONE)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT o.customer_id, {local_date}, l.product_id FROM {_LINE} l JOIN {_ORDER} o ON o.id = l.order_id"
                f" WHERE o.customer_id IS NOT NULL AND {KEPT_ORDER}",
                params,
            )
            rows = cursor.fetchall()
        customer = np.array([row[0] for row in rows], dtype=np.int64)
        day = np.array([row[1] for row in rows], dtype="datetime64[D]")
        item = np.array([row[2] for row in rows], dtype=np.int64)
    return pd.DataFrame({"customer_id": _survivors(customer), "date": day, "item_id": item})


def _survivors(customer: np.ndarray) -> np.ndarray:
    """Each customer id replaced by its survivor (`customer_survivor_ids`: the end of its chain of merges)."""
    survivor = customer_survivor_ids()
    if not survivor:
        return customer
    merged_ids = np.array(sorted(survivor), dtype=np.int64)
    targets = np.array([survivor[m] for m in merged_ids.tolist()], dtype=np.int64)
    at = np.minimum(np.searchsorted(merged_ids, customer), len(merged_ids) - 1)
    return np.where(merged_ids[at] == customer, targets[at], customer)


_CHUNK_PAGES = 8192  # table pages (64 MB) per statement: bounds the bytes in hand whatever the table


def _order_lines_postgres() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customer, local day and product of every kept line, read as packed big-endian integers.

    A row per line would cost more in the client (a Python object, or a COPY message, per row) than the
    database takes to find them, so each statement packs a range of table pages into one bytea per column
    (string_agg of int8send: every aggregate of a statement sees the rows in the same order). Orders and lines
    are read apart and joined here by order id: cheaper than PostgreSQL's hash join of the two tables."""
    local_day = "((o.placed_at AT TIME ZONE %s)::date - DATE '1970-01-01')"
    order_id, customer, day = _packed(
        f"{_ORDER} o",
        [("int8send(o.id)", ">i8"), ("int8send(o.customer_id)", ">i8"), (f"int4send({local_day})", ">i4")],
        where=f"o.customer_id IS NOT NULL AND {KEPT_ORDER_STATUS}",
        params=[settings.TIME_ZONE],
    )
    line_order, item = _packed(
        f"{_LINE} l", [("int8send(l.order_id)", ">i8"), ("int8send(l.product_id)", ">i8")], where=KEPT_LINE
    )
    by_id = np.argsort(order_id, kind="stable")
    order_id, customer, day = order_id[by_id], customer[by_id], day[by_id]
    at = np.minimum(np.searchsorted(order_id, line_order), max(len(order_id) - 1, 0))
    kept = order_id[at] == line_order if len(order_id) else np.zeros(len(line_order), dtype=bool)
    at = at[kept]
    return customer[at], day[at].astype("datetime64[D]"), item[kept]


def _packed(table_alias: str, columns: list[tuple[str, str]], *, where: str, params: Sequence = ()) -> list[np.ndarray]:
    """Columns (SQL, big-endian numpy type) of the rows of `table_alias` ("table alias") matching `where`, each
    as one native array. Statements walk the table a range of pages at a time (TID range scans, PostgreSQL 14+)."""
    table, alias = table_alias.split()
    aggregates = ", ".join(f"string_agg({expression}, '')" for expression, _ in columns)
    parts: list[list[np.ndarray]] = [[] for _ in columns]
    connection.ensure_connection()
    # A cursor of psycopg's own class on Django's connection: the same transaction, but server-side binding,
    # which returns bytea raw (binary) rather than as hex text.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute("SELECT pg_relation_size(%s) / current_setting('block_size')::int", [table])
        pages = cursor.fetchone()[0]
        for first in range(0, pages + 1, _CHUNK_PAGES):
            cursor.execute(
                f"SELECT {aggregates} FROM {table_alias}"
                f" WHERE {alias}.ctid >= %s::tid AND {alias}.ctid < %s::tid AND {where}",
                [*params, f"({first},0)", f"({first + _CHUNK_PAGES},0)"],
                binary=True,
            )
            for found, packed, (_, dtype) in zip(parts, cursor.fetchone(), columns, strict=True):
                if packed is not None:  # no row in these pages
                    found.append(np.frombuffer(packed, dtype=dtype).astype(dtype[1:]))
    return [
        np.concatenate(found) if found else np.zeros(0, dtype=dtype[1:])
        for found, (_, dtype) in zip(parts, columns, strict=True)
    ]


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
