"""Reads for the performance dashboard, from the daily figures only (never the order ledger), scoped to stores."""

import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from associates.models import Associate, Store
from clientbook.models import FollowUpTask
from insights.models import DailyStats, SalesTarget
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


# The month of an associate and of a store (the WeCom app's 我的业绩 and the manager's phone): the dashboard's own
# figures (dashboard_get over DailyStats, so the two never disagree), with the month's targets and tasks beside them.


class _TargetProgress:
    """A month's attributed GMV against its target (an associate's row or a store's)."""

    month_gmv: Decimal
    target: Decimal | None

    @property
    def progress(self) -> float | None:
        """Share of the target reached, in percent (None: no target)."""
        if not self.target:
            return None
        return float(self.month_gmv / self.target * 100)

    @property
    def progress_bar(self) -> float:
        return min(self.progress or 0.0, 100.0)


@dataclasses.dataclass(frozen=True)
class MonthRow(_TargetProgress):
    associate: Associate
    today_gmv: Decimal
    month_gmv: Decimal
    orders: Decimal
    customers_added: int
    coupons_sent: int
    coupons_redeemed: int
    tasks_done: int
    target: Decimal | None
    new_customers_target: int | None
    rank: int


@dataclasses.dataclass(frozen=True)
class StoreMonth(_TargetProgress):
    store: Store
    month: dt.date
    today: dt.date
    days_in_month: int
    today_gmv: Decimal
    month_gmv: Decimal
    customers_added: int
    coupons_sent: int
    coupons_redeemed: int
    tasks_done: int
    target: Decimal | None
    new_customers_target: int | None
    rows: list[MonthRow]  # every active associate of the store (and any with figures), highest month GMV first
    overdue_tasks: list

    @property
    def time_elapsed(self) -> float:
        """Share of the month gone by (today included), in percent: the pace a progress bar is read against."""
        return round(self.today.day / self.days_in_month * 100, 1)

    def row_of(self, associate_id: int) -> MonthRow | None:
        return next((row for row in self.rows if row.associate.pk == associate_id), None)


def store_month_get(*, store: Store, today: dt.date) -> StoreMonth:
    """A store's month to `today` (a local date) and each of its associates', ranked by attributed GMV."""
    month = today.replace(day=1)
    days_in_month = ((month + dt.timedelta(days=32)).replace(day=1) - month).days
    scope = frozenset({store.pk})
    period = dashboard_get(store_ids=scope, start=month, end=today, store_id=store.pk)
    day = dashboard_get(store_ids=scope, start=today, end=today, store_id=store.pk)
    month_by = {row["associate_id"]: row for row in period.associates}
    today_by = {row["associate_id"]: row["gmv"] for row in day.associates}
    targets = {t.associate_id: t for t in SalesTarget.objects.filter(month=month, store=store)}
    tz = timezone.get_current_timezone()
    since = dt.datetime.combine(month, dt.time.min, tzinfo=tz)
    until = dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    done = dict(
        FollowUpTask.objects.filter(associate__store=store, done_at__gte=since, done_at__lt=until)
        .values("associate_id")
        .annotate(n=Count("pk"))
        .values_list("associate_id", "n")
    )
    people = list(Associate.objects.filter(Q(store=store, is_active=True) | Q(pk__in=list(month_by))))
    zero = _clean({})
    people.sort(key=lambda a: (-(month_by.get(a.pk) or zero)["gmv"], a.name, a.pk))
    rows = []
    for rank, person in enumerate(people, start=1):
        figures = month_by.get(person.pk) or zero
        target = targets.get(person.pk)
        rows.append(
            MonthRow(
                associate=person,
                today_gmv=today_by.get(person.pk, Decimal("0")),
                month_gmv=figures["gmv"],
                orders=figures["orders"],
                customers_added=figures["customers_added"],
                coupons_sent=figures["coupons_sent"],
                coupons_redeemed=figures["coupons_redeemed"],
                tasks_done=done.get(person.pk, 0),
                target=target.amount if target else None,
                new_customers_target=target.new_customers if target else None,
                rank=rank,
            )
        )
    overdue = list(
        FollowUpTask.objects.filter(associate__store=store, done_at__isnull=True, due_on__lt=today)
        .select_related("associate", "customer")
        .order_by("due_on", "pk")[:50]
    )
    store_target = targets.get(None)
    return StoreMonth(
        store=store,
        month=month,
        today=today,
        days_in_month=days_in_month,
        today_gmv=day.totals["gmv"],
        month_gmv=period.totals["gmv"],
        customers_added=period.totals["customers_added"],
        coupons_sent=period.totals["coupons_sent"],
        coupons_redeemed=period.totals["coupons_redeemed"],
        tasks_done=sum(done.values()),
        target=store_target.amount if store_target else None,
        new_customers_target=store_target.new_customers if store_target else None,
        rows=rows,
        overdue_tasks=overdue,
    )
