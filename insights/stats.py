"""The dashboard's daily figures (DailyStats), rebuilt from the ledgers for a range of days.

Each source is one grouped query by (local day, store, associate); a day's rows are replaced as a whole, so a
refresh is safe to repeat and a recompute of attribution is followed by a refresh of the same days.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from associates.models import FollowRelation
from campaigns.models import CampaignChunk, CampaignRecipient
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


def _add(figures: dict, name: str, rows, store: str, associate: str, value: str = "n") -> None:
    for row in rows:
        if row[store] is None:
            continue
        figures[(row["day"], row[store], row[associate])][name] += row[value] or 0


def daily_stats_refresh(*, start: dt.date, end: dt.date) -> int:
    """Rebuild DailyStats for the local days start..end (inclusive); returns the rows written."""
    since, until = _bounds(start, end)
    figures: dict[Key, dict[str, Decimal | int]] = defaultdict(lambda: defaultdict(int))

    follows = (
        FollowRelation.objects.filter(followed_at__gte=since, followed_at__lt=until)
        .exclude(add_way=ADD_WAY_ASSIGNED)
        .annotate(day=_day("followed_at"))
        .values("day", "associate_id", "associate__store_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    _add(figures, "customers_added", follows, "associate__store_id", "associate_id")

    outreach = Outreach.objects.filter(sent_at__gte=since, sent_at__lt=until).annotate(day=_day("sent_at"))
    _add(
        figures,
        "outreach_sent",
        outreach.values("day", "store_id", "associate_id").annotate(n=Count("pk")).order_by(),
        "store_id",
        "associate_id",
    )
    suggested = outreach.filter(source__in=SUGGESTED)
    _add(
        figures,
        "suggestions_sent",
        suggested.values("day", "store_id", "associate_id").annotate(n=Count("pk")).order_by(),
        "store_id",
        "associate_id",
    )
    window = dt.timedelta(days=attribution_config_get().window_days)
    # Bought: the customer (or the record they stand for today, however many merges on) bought that product
    # within the window.
    bought_line = OrderLine.objects.filter(
        Q(order__customer_id=OuterRef("customer_id"))
        | Q(order__customer_id=CustomerSurvivorId(OuterRef("customer_id"))),
        product_id=OuterRef("product_id"),
        order__placed_at__gt=OuterRef("sent_at"),
        order__placed_at__lte=OuterRef("sent_at") + window,
        order__status__in=COUNTED_ORDER_STATUSES,
        quantity__gt=0,
    )
    _add(
        figures,
        "suggestions_bought",
        suggested.filter(Exists(bought_line))
        .values("day", "store_id", "associate_id")
        .annotate(n=Count("pk"))
        .order_by(),
        "store_id",
        "associate_id",
    )

    packs = IssueRequest.objects.filter(created_at__gte=since, created_at__lt=until, associate__isnull=False).annotate(
        day=_day("created_at")
    )
    _add(
        figures,
        "coupon_packs_sent",
        packs.values("day", "store_id", "associate_id").annotate(n=Count("pk")).order_by(),
        "store_id",
        "associate_id",
    )
    coupons = Coupon.objects.filter(issued_at__gte=since, issued_at__lt=until, associate__isnull=False).annotate(
        day=_day("issued_at")
    )
    _add(
        figures,
        "coupons_sent",
        coupons.values("day", "store_id", "associate_id").annotate(n=Count("pk")).order_by(),
        "store_id",
        "associate_id",
    )
    redemptions = (
        Redemption.objects.filter(created_at__gte=since, created_at__lt=until, credited_associate__isnull=False)
        .annotate(day=_day("created_at"))
        .values("day", "credited_store_id", "credited_associate_id")
        .annotate(
            n=Count("pk", filter=Q(kind=Redemption.Kind.REDEEM)) - Count("pk", filter=Q(kind=Redemption.Kind.RETURN))
        )
        .order_by()
    )
    _add(figures, "coupons_redeemed", redemptions, "credited_store_id", "credited_associate_id")

    invites = Invite.objects.filter(sent_at__gte=since, sent_at__lt=until).annotate(day=_day("sent_at"))
    # Joined counts by the day the invite was sent, so the funnel compares like with like.
    _add(
        figures,
        "invites_sent",
        invites.values("day", "store_id", "associate_id").annotate(n=Count("pk")).order_by(),
        "store_id",
        "associate_id",
    )
    _add(
        figures,
        "invites_joined",
        invites.filter(joined_at__isnull=False)
        .values("day", "store_id", "associate_id")
        .annotate(n=Count("pk"))
        .order_by(),
        "store_id",
        "associate_id",
    )
    confirmations = (
        CampaignChunk.objects.filter(confirmed_at__gte=since, confirmed_at__lt=until)
        .annotate(day=_day("confirmed_at"))
        .values("day", "associate__store_id", "associate_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    _add(figures, "campaign_confirmations", confirmations, "associate__store_id", "associate_id")

    attributed = (
        Attribution.objects.filter(placed_at__gte=since, placed_at__lt=until, order__status__in=COUNTED_ORDER_STATUSES)
        .annotate(day=_day("placed_at"))
        .values("day", "store_id", "associate_id")
        .annotate(orders=Sum("share"), gmv=Sum("amount"))
        .order_by()
    )
    _add(figures, "orders", attributed, "store_id", "associate_id", value="orders")
    _add(figures, "gmv", attributed, "store_id", "associate_id", value="gmv")

    touched: dict[Key, set[int]] = defaultdict(set)
    for queryset, at, store in (
        (Outreach.objects, "sent_at", "store_id"),
        (IssueRequest.objects.filter(associate__isnull=False), "created_at", "store_id"),
        (FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT), "followed_at", "associate__store_id"),
        (Invite.objects, "sent_at", "store_id"),
        (
            CampaignRecipient.objects.filter(status=CampaignRecipient.Status.SENT, associate__isnull=False),
            "sent_at",
            "associate__store_id",
        ),
    ):
        rows = (
            queryset.filter(**{f"{at}__gte": since, f"{at}__lt": until})
            .annotate(day=_day(at))
            .values_list("day", store, "associate_id", "customer_id")
            .distinct()
        )
        for day, store_id, associate_id, customer_id in rows.iterator():
            if store_id is not None:
                touched[(day, store_id, associate_id)].add(customer_id)
    for key, customers in touched.items():
        figures[key]["customers_touched"] = len(customers)

    stats = [
        DailyStats(day=day, store_id=store_id, associate_id=associate_id, **values)
        for (day, store_id, associate_id), values in figures.items()
    ]
    with transaction.atomic():
        DailyStats.objects.filter(day__gte=start, day__lte=end).delete()
        DailyStats.objects.bulk_create(stats, batch_size=1000)
    return len(stats)
