"""The dashboard's daily figures (DailyStats), rebuilt from the ledgers for a range of days.

`FIGURES` is the table: each DailyStats column and the grouped query, by (local day, store, associate), that gives
it; a new figure is a column and a line there. A day's rows are replaced as a whole, so a refresh is safe to repeat
and a recompute of attribution is followed by a refresh of the same days.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import CampaignChunk, CampaignRecipient
from clientbook.models import FollowRelation
from communities.models import Invite
from coupons.models import Coupon, IssueRequest, Redemption
from customers.models import Order, OrderLine
from customers.selectors import CustomerSurvivorId
from insights.attribution import attribution_config_get
from insights.models import Attribution, DailyStats
from suggestions.models import Outreach

COUNTED_ORDER_STATUSES = (Order.Status.PLACED, Order.Status.PAID, Order.Status.COMPLETED)
SUGGESTED = (Outreach.Source.SUGGESTION, Outreach.Source.ADDON)
# add_way 202: the customer came by a transfer (handover), which is no new customer for the brand.
ADD_WAY_ASSIGNED = 202


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )


def _day(field: str) -> TruncDate:
    return TruncDate(field, tzinfo=timezone.get_current_timezone())


Key = tuple[dt.date, int, int | None]


@dataclass(frozen=True)
class Period:
    """The local days being rebuilt, as bounds in time, and the attribution window in force."""

    since: dt.datetime
    until: dt.datetime
    window: dt.timedelta


def _grouped(
    queryset: QuerySet, at: str, period: Period, *, store: str = "store_id", associate: str = "associate_id", **values
) -> Iterator[tuple]:
    """(day, store, associate, *values) of `queryset`'s rows whose `at` falls in the period, grouped by local day,
    store and associate; `values` are aggregates, a row count when none is given."""
    values = values or {"n": Count("pk")}
    rows = (
        queryset.filter(**{f"{at}__gte": period.since, f"{at}__lt": period.until})
        .annotate(day=_day(at))
        .values("day", store, associate)
        .annotate(**values)
        .order_by()
    )
    return ((row["day"], row[store], row[associate], *(row[name] for name in values)) for row in rows)


def _suggestions_bought(period: Period) -> Iterator[tuple]:
    # Bought: the customer (or the record they stand for today, however many merges on) bought that product
    # within the window.
    bought_line = OrderLine.objects.filter(
        Q(order__customer_id=OuterRef("customer_id"))
        | Q(order__customer_id=CustomerSurvivorId(OuterRef("customer_id"))),
        product_id=OuterRef("product_id"),
        order__placed_at__gt=OuterRef("sent_at"),
        order__placed_at__lte=OuterRef("sent_at") + period.window,
        order__status__in=COUNTED_ORDER_STATUSES,
        quantity__gt=0,
    )
    return _grouped(Outreach.objects.filter(source__in=SUGGESTED).filter(Exists(bought_line)), "sent_at", period)


# A customer touched: one an associate reached through Omni that day — (the ledger, when, its store's path).
TOUCHES = (
    (Outreach.objects, "sent_at", "store_id"),
    (IssueRequest.objects.filter(associate__isnull=False), "created_at", "store_id"),
    (FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT), "followed_at", "associate__store_id"),
    (Invite.objects, "sent_at", "store_id"),
    (
        CampaignRecipient.objects.filter(status=CampaignRecipient.Status.SENT, associate__isnull=False),
        "sent_at",
        "associate__store_id",
    ),
)


def _customers_touched(period: Period) -> Iterator[tuple]:
    touched: dict[Key, set[int]] = defaultdict(set)
    for queryset, at, store in TOUCHES:
        rows = (
            queryset.filter(**{f"{at}__gte": period.since, f"{at}__lt": period.until})
            .annotate(day=_day(at))
            .values_list("day", store, "associate_id", "customer_id")
            .distinct()
        )
        for day, store_id, associate_id, customer_id in rows.iterator():
            touched[(day, store_id, associate_id)].add(customer_id)
    return ((*key, len(customers)) for key, customers in touched.items())


@dataclass(frozen=True)
class Figure:
    """DailyStats columns and the rows giving them: (day, store id, associate id, *one value per column)."""

    columns: tuple[str, ...]
    rows: Callable[[Period], Iterable[tuple]]


# Each column's rows: one grouped query a figure (touched customers: one per ledger that touches).
FIGURES = (
    Figure(
        ("customers_added",),
        lambda p: _grouped(
            FollowRelation.objects.exclude(add_way=ADD_WAY_ASSIGNED), "followed_at", p, store="associate__store_id"
        ),
    ),
    Figure(("outreach_sent",), lambda p: _grouped(Outreach.objects, "sent_at", p)),
    Figure(("suggestions_sent",), lambda p: _grouped(Outreach.objects.filter(source__in=SUGGESTED), "sent_at", p)),
    Figure(("suggestions_bought",), _suggestions_bought),
    Figure(
        ("coupon_packs_sent",),
        lambda p: _grouped(IssueRequest.objects.filter(associate__isnull=False), "created_at", p),
    ),
    Figure(("coupons_sent",), lambda p: _grouped(Coupon.objects.filter(associate__isnull=False), "issued_at", p)),
    Figure(
        ("coupons_redeemed",),
        lambda p: _grouped(
            Redemption.objects.filter(credited_associate__isnull=False),
            "created_at",
            p,
            store="credited_store_id",
            associate="credited_associate_id",
            n=Count("pk", filter=Q(kind=Redemption.Kind.REDEEM)) - Count("pk", filter=Q(kind=Redemption.Kind.RETURN)),
        ),
    ),
    Figure(("invites_sent",), lambda p: _grouped(Invite.objects, "sent_at", p)),
    # Joined counts by the day the invite was sent, so the funnel compares like with like.
    Figure(("invites_joined",), lambda p: _grouped(Invite.objects.filter(joined_at__isnull=False), "sent_at", p)),
    Figure(
        ("campaign_confirmations",),
        lambda p: _grouped(CampaignChunk.objects, "confirmed_at", p, store="associate__store_id"),
    ),
    Figure(
        ("orders", "gmv"),
        lambda p: _grouped(
            Attribution.objects.filter(order__status__in=COUNTED_ORDER_STATUSES),
            "placed_at",
            p,
            orders=Sum("share"),
            gmv=Sum("amount"),
        ),
    ),
    Figure(("customers_touched",), _customers_touched),
)


def daily_stats_refresh(*, start: dt.date, end: dt.date) -> int:
    """Rebuild DailyStats for the local days start..end (inclusive); returns the rows written."""
    since, until = _bounds(start, end)
    period = Period(since=since, until=until, window=dt.timedelta(days=attribution_config_get().window_days))
    figures: dict[Key, dict[str, Decimal | int]] = defaultdict(lambda: defaultdict(int))
    for figure in FIGURES:
        for day, store_id, associate_id, *values in figure.rows(period):
            if store_id is None:
                continue
            for column, value in zip(figure.columns, values, strict=True):
                figures[(day, store_id, associate_id)][column] += value or 0

    stats = [
        DailyStats(day=day, store_id=store_id, associate_id=associate_id, **values)
        for (day, store_id, associate_id), values in figures.items()
    ]
    with transaction.atomic():
        DailyStats.objects.filter(day__gte=start, day__lte=end).delete()
        DailyStats.objects.bulk_create(stats, batch_size=1000)
    return len(stats)
