"""Reads for the performance dashboard, from the daily figures only (never the order ledger), scoped to stores."""

import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

from django.db.models import QuerySet, Sum

from associates.models import Associate, Store
from insights.models import DailyStats
from omni.replicas import replica_reads

StoreIds = frozenset[int] | None

FIGURES = (
    "customers_added",
    "customers_touched",
    "outreach_sent",
    "suggestions_sent",
    "suggestions_bought",
    "coupon_packs_sent",
    "coupons_sent",
    "coupons_redeemed",
    "invites_sent",
    "invites_joined",
    "campaign_confirmations",
    "orders",
    "gmv",
)
FIGURE_LABELS = {name: str(DailyStats._meta.get_field(name).verbose_name) for name in FIGURES}


def _sums() -> dict:
    return {name: Sum(name) for name in FIGURES}


def _clean(row: dict) -> dict:
    for name in FIGURES:
        value = row.get(name)
        if value is None:
            row[name] = Decimal("0") if name in ("orders", "gmv") else 0
    row["redemption_rate"] = (row["coupons_redeemed"] / row["coupons_sent"]) if row["coupons_sent"] else None
    return row


def stats_visible(*, store_ids: StoreIds, start: dt.date, end: dt.date, store_id: int | None = None) -> QuerySet:
    queryset = DailyStats.objects.filter(day__gte=start, day__lte=end)
    if store_ids is not None:
        queryset = queryset.filter(store_id__in=store_ids)
    if store_id is not None:
        queryset = queryset.filter(store_id=store_id)
    return queryset


def stores_visible(*, store_ids: StoreIds) -> QuerySet[Store]:
    stores = Store.objects.order_by("code")
    return stores if store_ids is None else stores.filter(pk__in=store_ids)


@dataclasses.dataclass(frozen=True)
class Dashboard:
    start: dt.date
    end: dt.date
    totals: dict
    stores: list[dict]
    associates: list[dict]  # the leaderboard: attributed GMV, highest first
    trend: list[dict]  # one row per day of the range, zeros included


def dashboard_get(*, store_ids: StoreIds, start: dt.date, end: dt.date, store_id: int | None = None) -> Dashboard:
    """The figures of a period: a heavy read, the replica's when one is fresh enough (omni.replicas)."""
    with replica_reads():
        return _dashboard(store_ids=store_ids, start=start, end=end, store_id=store_id)


def _dashboard(*, store_ids: StoreIds, start: dt.date, end: dt.date, store_id: int | None) -> Dashboard:
    stats = stats_visible(store_ids=store_ids, start=start, end=end, store_id=store_id)
    totals = _clean(stats.aggregate(**_sums()))
    names = dict(Store.objects.values_list("pk", "name"))
    stores = [
        _clean(dict(row, store_name=names.get(row["store_id"], "")))
        for row in stats.values("store_id").annotate(**_sums()).order_by("-gmv", "store_id")
    ]
    people = {a.pk: a for a in Associate.objects.filter(pk__in=stats.exclude(associate=None).values("associate_id"))}
    associates = []
    for row in (
        stats.exclude(associate=None)
        .values("associate_id", "store_id")
        .annotate(**_sums())
        .order_by("-gmv", "-orders", "associate_id")
    ):
        person = people[row["associate_id"]]
        associates.append(
            _clean(dict(row, name=person.name, is_active=person.is_active, store_name=names.get(row["store_id"], "")))
        )
    by_day = {row["day"]: _clean(row) for row in stats.values("day").annotate(**_sums()).order_by("day")}
    trend = []
    day = start
    while day <= end:
        trend.append(by_day.get(day) or _clean({"day": day}))
        day += dt.timedelta(days=1)
    return Dashboard(start=start, end=end, totals=totals, stores=stores, associates=associates, trend=trend)


CSV_COLUMNS = [("store_name", "门店"), ("name", "导购")] + [(name, FIGURE_LABELS[name]) for name in FIGURES]


def dashboard_csv_rows(*, dashboard: Dashboard) -> Iterator[list[str]]:
    """The leaderboard and the stores' own rows as CSV rows, header first."""
    yield [label for _, label in CSV_COLUMNS] + ["核销率"]
    for row in dashboard.associates:
        yield _csv(row)
    for row in dashboard.stores:
        yield _csv(dict(row, name="（门店合计）"))


def _cell(name: str, value) -> str:
    if name == "gmv":
        return f"{Decimal(value):.2f}"
    if name == "orders":
        return f"{Decimal(value):.4f}".rstrip("0").rstrip(".")
    return str(value)


def _csv(row: dict) -> list[str]:
    rate = row["redemption_rate"]
    return [_cell(name, row.get(name, "")) for name, _ in CSV_COLUMNS] + ["" if rate is None else f"{rate:.1%}"]
