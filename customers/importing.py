"""Bulk import of a channel's order file (CSV or Parquet): `orders_import_file`.

An import runs in three steps:

1. Check the options and the file's columns. Bad input raises ApplicationError and writes nothing.
2. Read the mapped columns once and compute, vectorised over the WHOLE file, everything that must not
   depend on chunking: which rows are rejected and why, each line's number (its row's position within
   its order in the file), each order's date, status and customer, each new product's name and price.
3. Write the accepted rows chunk by chunk. Each chunk is one transaction that also advances the
   ImportJob's `rows_done`, so an interrupted import resumes after its last committed chunk.

Every write is an INSERT … SELECT … ON CONFLICT DO NOTHING on a natural key — product sku, identity
(kind, value), order (channel, external_id), line (order, line_no) — so re-importing rows never
duplicates them, with or without the job row. Rows reach the database through TEMP staging tables
(COPY on PostgreSQL, executemany on SQLite) and are then written set-based, never row by row.
"""

import hashlib
import json
import re
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from associates.models import Store
from customers.models import (
    CHANNEL_MEMBER_IDENTITY_KIND,
    Channel,
    Customer,
    Identity,
    ImportJob,
    Order,
    OrderLine,
    Product,
)
from customers.phones import InvalidPhone, phone_normalize
from omni.bulk import bulk_copy, is_postgres, next_ids
from omni.errors import ApplicationError

FIELDS = ("external_id", "sku", "description", "quantity", "unit_price", "placed_at", "customer_id", "discount")
REQUIRED_FIELDS = frozenset({"external_id", "sku", "quantity", "unit_price", "placed_at"})
# The column names of the UCI Online Retail file, the reference input.
DEFAULT_MAPPING = {
    "external_id": "InvoiceNo",
    "sku": "StockCode",
    "description": "Description",
    "quantity": "Quantity",
    "unit_price": "UnitPrice",
    "placed_at": "InvoiceDate",
    "customer_id": "CustomerID",
}
FILE_READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
MAX_REJECT_EXAMPLES = 5

_CENT = Decimal("0.01")
# Bounds of the columns the values land in: IntegerField, DecimalField(12, 2), DecimalField(14, 2).
_MAX_QUANTITY = 2**31 - 1
_MAX_AMOUNT = 9_999_999_999.995
_MAX_ORDER_TOTAL = 999_999_999_999.0
_WHOLE_NUMBER_TEXT = re.compile(r"^([+-]?\d+)\.0*$")
_EXPLICIT_OFFSET = r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d:?\d\d)$"


@dataclass(frozen=True)
class ImportResult:
    """What one call did. Counts are for this call only; a resumed call skips `resumed_from` rows."""

    job_id: int
    already_done: bool
    rows_total: int
    resumed_from: int
    rows_read: int
    lines_imported: int
    lines_already_present: int
    orders_created: int
    customers_created: int
    products_created: int
    rejected: dict[str, int] = field(default_factory=dict)
    reject_examples: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Spec:
    path: Path
    reader: str
    channel: str
    mapping: dict[str, str]
    identity_kind: str
    store_id: int | None
    store_code: str | None
    tz: str
    currency: str
    return_prefix: str
    fulfilment: str

    def canonical(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "columns": self.mapping,
            "options": {
                "identity_kind": self.identity_kind,
                "store": self.store_code,
                "tz": self.tz,
                "currency": self.currency,
                "return_prefix": self.return_prefix,
                "fulfilment": self.fulfilment,
            },
        }


@dataclass(frozen=True)
class _Prepared:
    """The file after step 2: rejects per file row, and accepted lines, orders and products."""

    rows_total: int
    reasons: np.ndarray
    lines: pd.DataFrame
    orders: pd.DataFrame
    products: pd.DataFrame


@dataclass
class _Tally:
    lines_imported: int = 0
    lines_already_present: int = 0
    orders_created: int = 0
    customers_created: int = 0
    products_created: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    reject_examples: dict[str, list[int]] = field(default_factory=dict)


def orders_import_file(
    *,
    path: Path,
    channel: str,
    mapping: dict[str, str] | None = None,
    identity_kind: str | None = None,
    store_code: str | None = None,
    tz: str | None = None,
    currency: str = "CNY",
    return_prefix: str = "C",
    fulfilment: str | None = None,
    chunk_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import the order lines of `path` into `channel`; see the module docstring for the semantics.

    `mapping` maps our fields (FIELDS) to the file's columns, over DEFAULT_MAPPING. `progress` is
    called after each committed chunk with the number of file rows it covered.
    """
    if chunk_rows < 1:
        raise ApplicationError("invalid_chunk_size", "The chunk size must be at least 1 row.")
    spec = _spec_resolve(
        path=Path(path),
        channel=channel,
        mapping=mapping,
        identity_kind=identity_kind,
        store_code=store_code,
        tz=tz,
        currency=currency,
        return_prefix=return_prefix,
        fulfilment=fulfilment,
    )
    file_sha256 = _file_sha256(spec.path)
    input_key = hashlib.sha256(
        json.dumps({"file_sha256": file_sha256, **spec.canonical()}, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()

    existing = ImportJob.objects.filter(input_key=input_key).first()
    if existing is not None and existing.status == ImportJob.Status.DONE:
        return _already_done(existing)

    prepared = _prepare(_read_frame(spec), spec)
    job, _ = ImportJob.objects.get_or_create(
        input_key=input_key,
        defaults={
            "file_name": str(spec.path)[-500:],
            "file_sha256": file_sha256,
            "mapping": spec.canonical(),
            "channel": spec.channel,
            "rows_total": prepared.rows_total,
        },
    )
    if job.status == ImportJob.Status.DONE:
        return _already_done(job)
    if job.status == ImportJob.Status.FAILED:
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)

    resumed_from = job.rows_done
    tally = _Tally()
    try:
        for start in range(resumed_from, max(prepared.rows_total, 1), chunk_rows):
            end = min(start + chunk_rows, prepared.rows_total)
            _chunk_import(spec=spec, job_id=job.pk, prepared=prepared, start=start, end=end, tally=tally)
            if progress is not None and end > start:
                progress(end - start)
    except ApplicationError:
        raise
    except BaseException:
        # Committed chunks stay; a rerun resumes after them. FAILED tells an admin it stopped.
        ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(status=ImportJob.Status.FAILED)
        raise

    return ImportResult(
        job_id=job.pk,
        already_done=False,
        rows_total=prepared.rows_total,
        resumed_from=resumed_from,
        rows_read=prepared.rows_total - resumed_from,
        lines_imported=tally.lines_imported,
        lines_already_present=tally.lines_already_present,
        orders_created=tally.orders_created,
        customers_created=tally.customers_created,
        products_created=tally.products_created,
        rejected=dict(sorted(tally.rejected.items())),
        reject_examples=dict(sorted(tally.reject_examples.items())),
    )


def _already_done(job: ImportJob) -> ImportResult:
    return ImportResult(
        job_id=job.pk,
        already_done=True,
        rows_total=job.rows_total,
        resumed_from=job.rows_done,
        rows_read=0,
        lines_imported=0,
        lines_already_present=0,
        orders_created=0,
        customers_created=0,
        products_created=0,
    )


# Step 1: options and file.


def _spec_resolve(
    *,
    path: Path,
    channel: str,
    mapping: dict[str, str] | None,
    identity_kind: str | None,
    store_code: str | None,
    tz: str | None,
    currency: str,
    return_prefix: str,
    fulfilment: str | None,
) -> _Spec:
    if channel not in Channel.values:
        raise ApplicationError(
            "unknown_channel", f"Unknown channel {channel!r}; expected one of {', '.join(Channel.values)}."
        )
    identity_kind = identity_kind or CHANNEL_MEMBER_IDENTITY_KIND[Channel(channel)]
    if identity_kind not in Identity.Kind.values:
        raise ApplicationError(
            "unknown_identity_kind",
            f"Unknown identity kind {identity_kind!r}; expected one of {', '.join(Identity.Kind.values)}.",
        )
    fulfilment = fulfilment or (
        Order.Fulfilment.IN_STORE if channel == Channel.STORE_POS else Order.Fulfilment.DELIVERY
    )
    if fulfilment not in Order.Fulfilment.values:
        raise ApplicationError(
            "unknown_fulfilment",
            f"Unknown fulfilment {fulfilment!r}; expected one of {', '.join(Order.Fulfilment.values)}.",
        )
    tz = tz or settings.TIME_ZONE
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ApplicationError("unknown_timezone", f"Unknown time zone {tz!r}.") from exc
    if not re.fullmatch(r"[A-Z]{3}", currency or ""):
        raise ApplicationError("invalid_currency", f"Currency {currency!r} is not a 3-letter ISO code like CNY.")
    store_id = None
    if store_code:
        store_id = Store.objects.filter(code=store_code).values_list("pk", flat=True).first()
        if store_id is None:
            raise ApplicationError("unknown_store", f"No store has the code {store_code!r}.")

    unknown = sorted(set(mapping or {}) - set(FIELDS))
    if unknown:
        raise ApplicationError(
            "unknown_field",
            f"Unknown field(s) in the mapping: {', '.join(unknown)}; expected {', '.join(FIELDS)}.",
        )
    reader = FILE_READERS.get(path.suffix.lower())
    if reader is None:
        raise ApplicationError("unsupported_file_type", f"{path.name}: only .csv and .parquet files can be imported.")
    if not path.is_file():
        raise ApplicationError("file_not_found", f"No such file: {path}.")
    available = _file_columns(path, reader)
    explicit = {name: column.strip() for name, column in (mapping or {}).items()}
    effective: dict[str, str] = {}
    missing = []
    for name in FIELDS:
        column = explicit.get(name, DEFAULT_MAPPING.get(name, ""))
        if not column:
            if name in REQUIRED_FIELDS:
                raise ApplicationError("missing_mapping", f"The field {name} must be mapped to a column.")
            continue
        if column in available:
            effective[name] = column
        elif name in REQUIRED_FIELDS or name in explicit:
            missing.append(f"{name}={column}")
        # An optional field left at its default column is simply absent from this file.
    if missing:
        raise ApplicationError(
            "missing_column",
            f"{path.name} has no column for {', '.join(missing)}; its columns are: {', '.join(available)}.",
            details={"missing": missing, "available": available},
        )
    return _Spec(
        path=path,
        reader=reader,
        channel=channel,
        mapping=effective,
        identity_kind=identity_kind,
        store_id=store_id,
        store_code=store_code or None,
        tz=tz,
        currency=currency,
        return_prefix=return_prefix,
        fulfilment=fulfilment,
    )


def _file_columns(path: Path, reader: str) -> list[str]:
    try:
        if reader == "parquet":
            return list(pq.read_schema(path).names)
        return [str(c) for c in pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns]
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ApplicationError("unreadable_file", f"{path.name} cannot be read as {reader}: {exc}") from exc


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _read_frame(spec: _Spec) -> pd.DataFrame:
    """The mapped columns, renamed to our field names; CSV cells stay text and are parsed in _prepare."""
    columns = sorted(set(spec.mapping.values()))
    try:
        if spec.reader == "parquet":
            raw = pd.read_parquet(spec.path, columns=columns)
        else:
            raw = pd.read_csv(spec.path, usecols=columns, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ApplicationError("unreadable_file", f"{spec.path.name} cannot be read: {exc}") from exc
    frame = pd.DataFrame({name: raw[column] for name, column in spec.mapping.items()})
    return frame.reset_index(drop=True)


# Step 2: vectorised validation and whole-file derivations.


def _prepare(frame: pd.DataFrame, spec: _Spec) -> _Prepared:
    rows = len(frame)
    external_id = _text(frame["external_id"])
    sku = _text(frame["sku"])
    quantity, quantity_missing, quantity_bad = _number(frame["quantity"])
    price, price_missing, price_bad = _number(frame["unit_price"])
    placed_at, date_missing, date_bad = _datetime_utc(frame["placed_at"], spec.tz)
    if "discount" in frame:
        discount, discount_missing, discount_bad = _number(frame["discount"])
        discount = discount.where(~discount_missing, 0.0)
    else:
        discount, discount_bad = pd.Series(0.0, index=frame.index), pd.Series(False, index=frame.index)
    if "customer_id" in frame:
        identity, identity_bad = _identity_values(frame["customer_id"], spec.identity_kind)
    else:
        identity = pd.Series(pd.NA, index=frame.index, dtype="str")
        identity_bad = pd.Series(False, index=frame.index)
    description = _text(frame["description"]) if "description" in frame else pd.Series(pd.NA, index=frame.index)

    is_return = external_id.str.startswith(spec.return_prefix) if spec.return_prefix else False
    is_return = pd.Series(is_return, index=frame.index).fillna(False).astype(bool)
    too_long = (
        (external_id.str.len() > Order._meta.get_field("external_id").max_length)
        | (sku.str.len() > Product._meta.get_field("sku").max_length)
        | (identity.str.len() > Identity._meta.get_field("value").max_length)
    ).fillna(False)
    # The first matching reason names a rejected row; the order is part of the codes' contract.
    checks = [
        ("missing_external_id", external_id.isna()),
        ("missing_sku", sku.isna()),
        ("missing_quantity", quantity_missing),
        ("missing_unit_price", price_missing),
        ("missing_date", date_missing),
        ("bad_quantity", quantity_bad | (quantity % 1 != 0)),
        ("bad_unit_price", price_bad),
        ("bad_discount", discount_bad),
        ("bad_date", date_bad),
        ("bad_customer_id", identity_bad),
        ("value_too_long", too_long),
        ("zero_quantity", quantity == 0),
        ("quantity_out_of_range", quantity.abs() > _MAX_QUANTITY),
        ("negative_price", price < 0),
        ("negative_discount", discount < 0),
        ("amount_out_of_range", (price >= _MAX_AMOUNT) | (discount >= _MAX_AMOUNT)),
        ("negative_quantity_not_return", (quantity < 0) & ~is_return),
    ]
    conditions = [np.asarray(mask.fillna(False), dtype=bool) for _, mask in checks]
    reasons = np.select(conditions, [code for code, _ in checks], default="").astype(object)

    # A sum beyond Order.total_amount's digits would abort the chunk's transaction: reject the order.
    amount = quantity * price - discount
    accepted = reasons == ""
    order_total = amount[accepted].groupby(external_id[accepted]).transform("sum")
    overflow = order_total.index[order_total.abs() >= _MAX_ORDER_TOTAL]
    reasons[overflow.to_numpy()] = "order_total_out_of_range"
    accepted = reasons == ""

    ok = pd.DataFrame(
        {
            "external_id": external_id[accepted],
            "sku": sku[accepted],
            "quantity": quantity[accepted].astype("int64"),
            "unit_price": _money_text(price[accepted], frame["unit_price"][accepted]),
            "discount": _money_text(discount[accepted], frame["discount"][accepted] if "discount" in frame else None),
            "placed_at": placed_at[accepted],
            "identity": identity[accepted],
            "description": description[accepted],
            "is_return": is_return[accepted],
        }
    )
    # A line's number is its row's position among ALL the file's rows of its order, rejected ones
    # included, so it depends neither on the chunking nor on options that change what is rejected.
    keyed = external_id.dropna()
    ok["line_no"] = (keyed.groupby(keyed, sort=False).cumcount() + 1).reindex(ok.index)

    by_order = ok.groupby("external_id", sort=False)
    orders = by_order.agg(
        placed_at=("placed_at", "min"), identity=("identity", "first"), is_return=("is_return", "first")
    )
    orders["placed_at"] = _db_datetimes(orders["placed_at"])
    orders["status"] = np.where(orders["is_return"], Order.Status.RETURNED.value, Order.Status.COMPLETED.value)

    name_max = Product._meta.get_field("name").max_length
    names = ok.groupby("sku", sort=False)["description"].first()
    # The most frequent price is the list price; ties go to the lower price so reruns agree.
    counts = ok.groupby(["sku", "unit_price"], sort=False).size().rename("n").reset_index()
    counts["value"] = counts["unit_price"].astype("float64")
    counts = counts.sort_values(["sku", "n", "value"], ascending=[True, False, True], kind="stable")
    prices = counts.drop_duplicates("sku").set_index("sku")["unit_price"]
    products = pd.DataFrame({"price": prices})
    products["name"] = names.reindex(products.index)
    products["name"] = products["name"].fillna(pd.Series(products.index, index=products.index)).str.slice(0, name_max)

    return _Prepared(
        rows_total=rows,
        reasons=reasons,
        lines=ok[["external_id", "line_no", "sku", "quantity", "unit_price", "discount"]],
        orders=orders[["placed_at", "status", "identity"]],
        products=products[["name", "price"]],
    )


def _text(column: pd.Series) -> pd.Series:
    """Cells as stripped text, NA where missing or blank; whole floats (17850.0) written as integers."""
    if pd.api.types.is_float_dtype(column):
        text = pd.Series(pd.NA, index=column.index, dtype="str")
        whole = column.notna() & (column % 1 == 0) & (column.abs() < 2**53)
        text[whole] = column[whole].astype("int64").astype("str")
        other = column.notna() & ~whole
        text[other] = column[other].map(lambda value: repr(float(value)))
        return text
    text = column.astype("str").str.strip()
    return text.mask(text == "")


def _number(column: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(float values, missing mask, non-numeric mask); values are NaN where missing or bad."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.astype("float64")
        missing = values.isna()
        bad = ~missing & ~np.isfinite(values.fillna(0))
        return values.where(~bad), missing, bad
    text = _text(column)
    missing = text.isna()
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = ~missing & (values.isna() | ~np.isfinite(values.fillna(0)))
    return values.where(~bad), missing, bad


def _datetime_utc(column: pd.Series, tz: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(UTC datetimes, missing mask, unparseable mask); naive values are local times in `tz`."""
    if pd.api.types.is_datetime64_any_dtype(column):
        missing = column.isna()
        return _to_utc(column, tz), missing, pd.Series(False, index=column.index)
    text = _text(column)
    missing = text.isna()
    parsed = pd.Series(pd.NaT, index=column.index, dtype="datetime64[us, UTC]")
    with_offset = text.str.contains(_EXPLICIT_OFFSET, regex=True).fillna(False).astype(bool)
    if with_offset.any():
        parsed[with_offset] = pd.to_datetime(text[with_offset], errors="coerce", utc=True).astype(parsed.dtype)
    naive = ~missing & ~with_offset
    if naive.any():
        parsed[naive] = _to_utc(pd.to_datetime(text[naive], errors="coerce"), tz).astype(parsed.dtype)
    return parsed, missing, ~missing & parsed.isna()


def _to_utc(values: pd.Series, tz: str) -> pd.Series:
    if values.dt.tz is not None:
        return values.dt.tz_convert("UTC")
    # Wall-clock times that a DST change repeats count as standard time; skipped ones move forward.
    local = values.dt.tz_localize(tz, ambiguous=np.zeros(len(values), dtype=bool), nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def _identity_values(column: pd.Series, kind: str) -> tuple[pd.Series, pd.Series]:
    """Identity values as Identity stores them (see services.identity_normalize), and a bad mask."""
    text = _text(column)
    if kind == Identity.Kind.PHONE:
        unique = text.dropna().unique()
        normalized = {}
        for raw in unique:
            try:
                normalized[raw] = phone_normalize(raw)
            except InvalidPhone:
                normalized[raw] = pd.NA
        values = text.map(normalized)
        return values.astype("str"), text.notna() & values.isna()
    # Member numbers read as floats by spreadsheets ("17850.0") are the same member as "17850".
    # Mapped per distinct value: a regex with a group reference runs in Python, not in Arrow.
    unique = text.dropna().unique()
    values = text.map({raw: _WHOLE_NUMBER_TEXT.sub(r"\1", raw) for raw in unique}).astype("str")
    return values, pd.Series(False, index=column.index)


def _money_text(values: pd.Series, raw: pd.Series | None) -> pd.Series:
    """Amounts as exact 2-place decimal text, rounded half up from the file's own digits."""
    # repr() is the shortest text that reads back as the same float: the digits the file had.
    from_values = values.map(_cents_text_cache(values.unique(), lambda v: repr(float(v))))
    if raw is None or pd.api.types.is_numeric_dtype(raw):
        return from_values
    text = _text(raw)
    # Blank optional cells (a discount) have no text of their own: they take their default value.
    return text.map(_cents_text_cache(text.dropna().unique(), str)).fillna(from_values)


def _cents_text_cache(unique: Iterable[Any], as_text: Callable[[Any], str]) -> dict[Any, str]:
    cache = {}
    for value in unique:
        try:
            cache[value] = format(Decimal(as_text(value)).quantize(_CENT, rounding=ROUND_HALF_UP) + 0, "f")
        except InvalidOperation:
            continue
    return cache


def _db_datetimes(values: pd.Series) -> pd.Series:
    """UTC datetimes as the text the database column takes: what Django itself would send."""
    naive = values.dt.tz_convert("UTC").dt.tz_localize(None)
    text = naive.dt.strftime("%Y-%m-%d %H:%M:%S")
    micro = naive.dt.microsecond
    text = text.where(micro == 0, text + "." + micro.astype("str").str.zfill(6))
    return text + "+00:00" if is_postgres() else text


# Step 3: chunked, set-based writes.

_STAGING = {
    "omni_import_lines": (
        ("external_id", "text"),
        ("line_no", "integer"),
        ("sku", "text"),
        ("quantity", "integer"),
        ("unit_price", "money"),
        ("discount", "money"),
    ),
    "omni_import_orders": (
        ("external_id", "text"),
        ("placed_at", "datetime"),
        ("status", "text"),
        ("identity", "text"),
        ("order_id", "bigint"),
        ("created", "boolean"),
    ),
    "omni_import_products": (("sku", "text"), ("name", "text"), ("price", "money")),
    "omni_import_new_customers": (("customer_id", "bigint"), ("value", "text")),
}
# SQLite keeps staged amounts as text so they reach the decimal columns exactly as written.
_STAGING_TYPES = {
    "postgresql": {
        "text": "text",
        "integer": "integer",
        "bigint": "bigint",
        "money": "numeric(12, 2)",
        "datetime": "timestamptz",
        "boolean": "boolean",
    },
    "sqlite": {
        "text": "TEXT",
        "integer": "INTEGER",
        "bigint": "INTEGER",
        "money": "TEXT",
        "datetime": "TEXT",
        "boolean": "INTEGER",
    },
}


def _chunk_import(*, spec: _Spec, job_id: int, prepared: _Prepared, start: int, end: int, tally: _Tally) -> None:
    positions = prepared.lines.index
    lines = prepared.lines.iloc[positions.searchsorted(start) : positions.searchsorted(end)]
    chunk_reasons = prepared.reasons[start:end]
    rejected: dict[str, int] = {}
    examples: dict[str, list[int]] = {}
    for code in sorted(set(chunk_reasons.tolist()) - {""}):
        offsets = np.flatnonzero(chunk_reasons == code)
        rejected[code] = len(offsets)
        examples[code] = [int(offset) + start + 1 for offset in offsets[:MAX_REJECT_EXAMPLES]]

    with transaction.atomic():
        job = ImportJob.objects.select_for_update(no_key=True).get(pk=job_id)
        if job.rows_done != start:
            raise ApplicationError(
                "import_conflict",
                f"Import job #{job_id} moved to row {job.rows_done} while this run was at row {start}: "
                "another process is importing the same file.",
            )
        if len(lines):
            counts = _chunk_write(spec=spec, prepared=prepared, lines=lines)
            tally.products_created += counts["products"]
            tally.customers_created += counts["customers"]
            tally.orders_created += counts["orders"]
            tally.lines_imported += counts["lines"]
            tally.lines_already_present += len(lines) - counts["lines"]

        job.rows_done = end
        job.rows_rejected += sum(rejected.values())
        job.rejects = _rejects_merge(job.rejects, rejected, examples)
        update_fields = ["rows_done", "rows_rejected", "rejects"]
        if end >= prepared.rows_total:
            job.status = ImportJob.Status.DONE
            job.finished_at = timezone.now()
            update_fields += ["status", "finished_at"]
        job.save(update_fields=update_fields)

    for code, count in rejected.items():
        tally.rejected[code] = tally.rejected.get(code, 0) + count
        kept = tally.reject_examples.setdefault(code, [])
        kept.extend(examples[code][: MAX_REJECT_EXAMPLES - len(kept)])


def _rejects_merge(stored: dict, rejected: dict[str, int], examples: dict[str, list[int]]) -> dict:
    merged = {code: dict(entry) for code, entry in (stored or {}).items()}
    for code, count in rejected.items():
        entry = merged.setdefault(code, {"count": 0, "rows": []})
        entry["count"] += count
        entry["rows"] = (entry["rows"] + examples[code])[:MAX_REJECT_EXAMPLES]
    return dict(sorted(merged.items()))


def _chunk_write(*, spec: _Spec, prepared: _Prepared, lines: pd.DataFrame) -> dict[str, int]:
    """Write one chunk's products, customers, orders and lines; the caller holds the transaction."""
    orders = prepared.orders.loc[lines["external_id"].unique()].reset_index().assign(created=False)
    products = prepared.products.loc[lines["sku"].unique()].reset_index()
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    customer, identity, product, order, line = (
        connection.ops.quote_name(model._meta.db_table) for model in (Customer, Identity, Product, Order, OrderLine)
    )
    counts = {}
    with connection.cursor() as cursor:
        types = _STAGING_TYPES[connection.vendor]
        if is_postgres():
            # The correlated sums look costly to the planner, and compiling them takes longer than running them.
            cursor.execute("SET LOCAL jit = off")
        for table, columns in _STAGING.items():
            cursor.execute(f"CREATE TEMP TABLE {table} ({', '.join(f'{c} {types[t]}' for c, t in columns)})")
        _stage(
            cursor, "omni_import_lines", lines, ["external_id", "line_no", "sku", "quantity", "unit_price", "discount"]
        )
        _stage(cursor, "omni_import_orders", orders, ["external_id", "placed_at", "status", "identity", "created"])
        _stage(cursor, "omni_import_products", products, ["sku", "name", "price"])

        # The NOT EXISTS guards keep reruns from burning sequence values; ON CONFLICT covers the race
        # with a concurrent writer of the same keys.
        cursor.execute(
            f"INSERT INTO {product} (sku, name, category, price, image_url, is_active, created_at) "
            f"SELECT s.sku, s.name, '', s.price, '', %s, %s FROM omni_import_products s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {product} p WHERE p.sku = s.sku) "
            "ON CONFLICT (sku) DO NOTHING",
            [True, now],
        )
        counts["products"] = cursor.rowcount
        counts["customers"] = _customers_create(cursor, spec=spec, now=now, customer=customer, identity=identity)
        insert_orders = (
            f"INSERT INTO {order} (channel, external_id, store_id, customer_id, associate_id, placed_at, status, "
            "fulfilment, currency, total_amount, created_at, updated_at) "
            f"SELECT %s, s.external_id, %s, i.customer_id, NULL, s.placed_at, s.status, %s, %s, 0, %s, %s "
            f"FROM omni_import_orders s LEFT JOIN {identity} i ON i.kind = %s AND i.value = s.identity "
            f"WHERE NOT EXISTS (SELECT 1 FROM {order} o WHERE o.channel = %s AND o.external_id = s.external_id) "
            "ON CONFLICT (channel, external_id) DO NOTHING"
        )
        params = [spec.channel, spec.store_id, spec.fulfilment, spec.currency, now, now, spec.identity_kind]
        if is_postgres():
            # Orders this transaction creates cannot have lines yet, nor can anyone else add lines to them
            # before it commits: their lines skip ON CONFLICT, whose speculative insertion costs ~60% more.
            cursor.execute(
                f"WITH new AS ({insert_orders} RETURNING id, external_id) "
                "UPDATE omni_import_orders SET order_id = new.id, created = true FROM new "
                "WHERE omni_import_orders.external_id = new.external_id",
                [*params, spec.channel],
            )
        else:
            # SQLite's single writer lock makes the distinction moot: every line takes ON CONFLICT.
            cursor.execute(insert_orders, [*params, spec.channel])
        counts["orders"] = cursor.rowcount
        cursor.execute(
            f"UPDATE omni_import_orders SET order_id = (SELECT o.id FROM {order} o "
            "WHERE o.channel = %s AND o.external_id = omni_import_orders.external_id) WHERE order_id IS NULL",
            [spec.channel],
        )
        insert_lines = (
            f"INSERT INTO {line} (order_id, line_no, product_id, quantity, unit_price, discount) "
            "SELECT o.order_id, s.line_no, p.id, s.quantity, s.unit_price, s.discount FROM omni_import_lines s "
            "JOIN omni_import_orders o ON o.external_id = s.external_id "
            f"JOIN {product} p ON p.sku = s.sku "
        )
        cursor.execute(insert_lines + "WHERE o.created")
        inserted = cursor.rowcount
        # No NOT EXISTS guard here: it would cost more than the ids a rerun burns are worth.
        cursor.execute(insert_lines + "WHERE NOT o.created ON CONFLICT (order_id, line_no) DO NOTHING")
        counts["lines"] = inserted + cursor.rowcount
        _totals_update(cursor, now=now, order=order, line=line)
        for table in _STAGING:
            cursor.execute(f"DROP TABLE {table}")
    return counts


def _customers_create(cursor: Any, *, spec: _Spec, now: Any, customer: str, identity: str) -> int:
    """Create a Customer with its Identity for each identity of the chunk's orders not known yet."""
    cursor.execute(
        "SELECT DISTINCT s.identity FROM omni_import_orders s WHERE s.identity IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {identity} i WHERE i.kind = %s AND i.value = s.identity) ORDER BY 1",
        [spec.identity_kind],
    )
    values = [row[0] for row in cursor.fetchall()]
    if not values:
        return 0
    new = pd.DataFrame({"customer_id": next_ids(Customer, len(values)), "value": values})
    _stage(cursor, "omni_import_new_customers", new, ["customer_id", "value"])
    cursor.execute(
        f"INSERT INTO {customer} (id, name, gender, phone, marketing_consent, opted_out, created_at, updated_at) "
        "SELECT customer_id, '', %s, '', %s, %s, %s, %s FROM omni_import_new_customers",
        [Customer.Gender.UNKNOWN.value, False, False, now, now],
    )
    cursor.execute(
        f"INSERT INTO {identity} (customer_id, kind, value, source, created_at) "
        "SELECT customer_id, %s, value, %s, %s FROM omni_import_new_customers WHERE true "
        "ON CONFLICT (kind, value) DO NOTHING",
        [spec.identity_kind, f"import:{spec.channel}", now],
    )
    created = cursor.rowcount
    if created < len(values):
        # A concurrent writer registered some of these identities first: their orders link to its
        # customers, and ours, left without an identity, go.
        cursor.execute(
            f"DELETE FROM {customer} WHERE id IN (SELECT customer_id FROM omni_import_new_customers) "
            f"AND NOT EXISTS (SELECT 1 FROM {identity} i WHERE i.customer_id = {customer}.id)"
        )
    return created


def _totals_update(cursor: Any, *, now: Any, order: str, line: str) -> None:
    """Recompute the total of every order the chunk touched from all of its lines, in the database."""
    if is_postgres():
        amount = "SUM(l.quantity * l.unit_price - l.discount)"
    else:
        # SQLite keeps decimals as REAL: summing whole cents keeps the total exact.
        amount = (
            "SUM(l.quantity * CAST(ROUND(l.unit_price * 100) AS INTEGER)"
            " - CAST(ROUND(l.discount * 100) AS INTEGER)) / 100.0"
        )
    cursor.execute(
        f"UPDATE {order} SET total_amount = t.total, updated_at = %s "
        # A correlated sum per staged order: an index lookup each, whatever the planner's statistics.
        f"FROM (SELECT s.order_id, (SELECT {amount} FROM {line} l WHERE l.order_id = s.order_id) AS total "
        "FROM omni_import_orders s) t "
        f"WHERE {order}.id = t.order_id AND {order}.total_amount <> t.total",
        [now],
    )


def _stage(cursor: Any, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Load `columns` of `frame` into the TEMP table `table`."""
    values = [frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in columns]
    bulk_copy(table, columns, zip(*values, strict=True), cursor=cursor)
