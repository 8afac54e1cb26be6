"""Writes of insights: the managers' monthly targets (one at a time in admin, or a CSV file at once).

A CSV import is all or nothing: every row is checked first, and either every row is saved in one transaction or
nothing is and the answer is the list of rows with their errors (stable codes). Rows are keyed by (month, store,
associate), so importing the same file again changes nothing.
"""

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from associates.models import Associate, Store
from insights.models import SalesTarget

StoreIds = frozenset[int] | None

CSV_COLUMNS = ("month", "store", "associate", "amount", "new_customers")
CSV_REQUIRED = ("month", "store", "amount")
CSV_MAX_ROWS = 5000
CSV_MAX_BYTES = 1024 * 1024
MAX_AMOUNT = Decimal("999999999999.99")
CSV_TEMPLATE = (
    "month,store,associate,amount,new_customers\n"
    "2026-12,SH01,,300000,60\n"
    "2026-12,SH01,wecom_userid_of_associate,80000,15\n"
)

# code → the message shown beside the row
ROW_ERRORS = {
    "missing_column": "缺少必填列",
    "bad_month": "月份格式应为 YYYY-MM",
    "unknown_store": "没有这个门店编码",
    "store_not_allowed": "不是你管理的门店",
    "unknown_associate": "该门店没有这位导购（企业微信 UserID）",
    "bad_amount": "销售目标应为不小于 0 的金额，最多两位小数",
    "bad_new_customers": "新客目标应为不小于 0 的整数",
    "duplicate_row": "与前面某行的月份、门店、导购相同",
}
FILE_ERRORS = {
    "empty_file": "文件为空或没有数据行",
    "not_utf8": "文件不是 UTF-8 编码的 CSV",
    "file_too_large": f"文件不能超过 {CSV_MAX_BYTES // 1024} KB",
    "too_many_rows": f"一次最多导入 {CSV_MAX_ROWS} 行",
    "missing_columns": "表头缺少必填列：month、store、amount",
}


@dataclass(frozen=True)
class RowError:
    line: int  # the line in the file (the header is line 1)
    column: str
    code: str
    message: str


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    file_error: str = ""  # a FILE_ERRORS code: nothing could be read
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.file_error and not self.errors


def month_first_day(*, day: dt.date) -> dt.date:
    return day.replace(day=1)


def _month(value: str) -> dt.date | None:
    value = value.strip()
    for fmt in ("%Y-%m", "%Y/%m", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value, fmt).date().replace(day=1)
        except ValueError:
            continue
    return None


def _amount(value: str) -> Decimal | None:
    try:
        amount = Decimal(value.strip().replace(",", ""))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        return None
    return amount.quantize(Decimal("0.01"))


def _count(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 9 else None


def sales_target_import(*, content: bytes, store_ids: StoreIds) -> ImportResult:
    """Check every row of a targets CSV, then save all of them or none; `store_ids` are the stores the importing
    user manages (None: HQ, every store)."""
    result = ImportResult()
    if len(content) > CSV_MAX_BYTES:
        result.file_error = "file_too_large"
        return result
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        result.file_error = "not_utf8"
        return result
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    if not header:
        result.file_error = "empty_file"
        return result
    if any(name not in header for name in CSV_REQUIRED):
        result.file_error = "missing_columns"
        return result
    reader.fieldnames = header
    rows = []
    for row in reader:
        if len(rows) >= CSV_MAX_ROWS:
            result.file_error = "too_many_rows"
            return result
        cells = {name: (row.get(name) or "").strip() for name in CSV_COLUMNS}
        if any(cells.values()):
            rows.append((reader.line_num, cells))
    if not rows:
        result.file_error = "empty_file"
        return result

    codes = {cells["store"] for _, cells in rows}
    stores = {store.code: store for store in Store.objects.filter(code__in=codes)}
    userids = {cells["associate"] for _, cells in rows if cells["associate"]}
    people = {(a.store_id, a.wecom_userid): a for a in Associate.objects.filter(wecom_userid__in=userids)}

    def fail(line: int, column: str, code: str) -> None:
        result.errors.append(RowError(line=line, column=column, code=code, message=ROW_ERRORS[code]))

    wanted: dict[tuple, tuple[Decimal, int | None]] = {}
    for line, cells in rows:
        errors_before = len(result.errors)
        for name in CSV_REQUIRED:
            if not cells[name]:
                fail(line, name, "missing_column")
        month = _month(cells["month"]) if cells["month"] else None
        if cells["month"] and month is None:
            fail(line, "month", "bad_month")
        store = stores.get(cells["store"])
        if cells["store"]:
            # A manager is told the same for another store's code and for a code that does not exist.
            if store is not None and store_ids is not None and store.pk not in store_ids:
                fail(line, "store", "store_not_allowed")
                store = None
            elif store is None:
                fail(line, "store", "store_not_allowed" if store_ids is not None else "unknown_store")
        associate = None
        if cells["associate"] and store is not None:
            associate = people.get((store.pk, cells["associate"]))
            if associate is None:
                fail(line, "associate", "unknown_associate")
        amount = _amount(cells["amount"]) if cells["amount"] else None
        if cells["amount"] and amount is None:
            fail(line, "amount", "bad_amount")
        new_customers = None
        if cells["new_customers"]:
            new_customers = _count(cells["new_customers"])
            if new_customers is None:
                fail(line, "new_customers", "bad_new_customers")
        if len(result.errors) > errors_before:
            continue
        key = (month, store.pk, associate.pk if associate else None)
        if key in wanted:
            fail(line, "month", "duplicate_row")
            continue
        wanted[key] = (amount, new_customers)
    if result.errors:
        return result

    with transaction.atomic():
        for (month, store_id, associate_id), (amount, new_customers) in wanted.items():
            outcome = sales_target_save(
                month=month, store_id=store_id, associate_id=associate_id, amount=amount, new_customers=new_customers
            )
            setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def sales_target_save(
    *, month: dt.date, store_id: int, associate_id: int | None, amount: Decimal, new_customers: int | None
) -> str:
    """Set one target; answers "created", "updated" or "unchanged" (the same figures: nothing is written)."""
    month = month.replace(day=1)
    with transaction.atomic():
        target = (
            SalesTarget.objects.select_for_update()
            .filter(month=month, store_id=store_id, associate_id=associate_id)
            .first()
        )
        if target is None:
            try:
                with transaction.atomic():
                    SalesTarget.objects.create(
                        month=month,
                        store_id=store_id,
                        associate_id=associate_id,
                        amount=amount,
                        new_customers=new_customers,
                    )
                return "created"
            except IntegrityError:
                # Another import created it between our read and our insert: update theirs instead.
                target = SalesTarget.objects.select_for_update().get(
                    month=month, store_id=store_id, associate_id=associate_id
                )
        if target.amount == amount and target.new_customers == new_customers:
            return "unchanged"
        target.amount, target.new_customers = amount, new_customers
        target.save(update_fields=["amount", "new_customers", "updated_at"])
        return "updated"
