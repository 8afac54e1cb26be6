"""Churn: the friendships customers ended (deleted the associate) or associates ended (deleted the customer), with
each customer's value, and the customers who stopped buying (no purchase in N days). Set-based reads for admin's
lists; the callbacks that record a loss are in `handlers.py`, the notices in `notifying.py`.

A customer's value is what they spent: their orders' totals, cancelled and returned orders left out."""

import datetime as dt
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DecimalField,
    F,
    Max,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from clientbook.models import FollowRelation
from customers.models import Customer, Order

NOT_PURCHASES = [Order.Status.CANCELLED, Order.Status.RETURNED]
LOST = [FollowRelation.Ended.CUSTOMER, FollowRelation.Ended.ASSOCIATE]
LAPSE_DAYS_DEFAULT = 90


def _purchases(customer_ref: str):
    return Order.objects.filter(customer_id=OuterRef(customer_ref)).exclude(status__in=NOT_PURCHASES).order_by()


def _spend(customer_ref: str):
    total = _purchases(customer_ref).values("customer_id").annotate(total=Sum("total_amount")).values("total")
    return Coalesce(Subquery(total), Value(Decimal("0.00")), output_field=DecimalField(max_digits=14, decimal_places=2))


def _orders(customer_ref: str):
    count = _purchases(customer_ref).values("customer_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(count), Value(0))


def _last_purchase(customer_ref: str):
    last = _purchases(customer_ref).values("customer_id").annotate(last=Max("placed_at")).values("last")
    return Subquery(last, output_field=DateTimeField())


def customer_spend(*, customer_id: int) -> Decimal:
    total = (
        Order.objects.filter(customer_id=customer_id)
        .exclude(status__in=NOT_PURCHASES)
        .aggregate(total=Sum("total_amount"))["total"]
    )
    return total or Decimal("0.00")


def follows_lost(queryset: QuerySet | None = None) -> QuerySet:
    """Friendships lost to churn (not handovers, not sync gaps), each with the customer's spend, orders and last
    purchase, newest loss first."""
    queryset = FollowRelation.objects.all() if queryset is None else queryset
    return (
        queryset.filter(ended_reason__in=LOST, ended_at__isnull=False)
        .annotate(
            spend=_spend("customer_id"), order_count=_orders("customer_id"), last_purchase=_last_purchase("customer_id")
        )
        .order_by("-ended_at", "-pk")
    )


def customers_lapsed(
    queryset: QuerySet | None = None,
    *,
    days_by_store: dict[int, int],
    default_days: int = LAPSE_DAYS_DEFAULT,
    now: dt.datetime | None = None,
) -> QuerySet:
    """Customers who bought before but not in their store's N days (`days_by_store`, else `default_days`), with
    their spend and days since; one statement, the cutoff per store a CASE over the stores' settings."""
    now = now or timezone.now()
    queryset = Customer.objects.all() if queryset is None else queryset
    cutoff = Case(
        *[
            When(primary_store_id=store_id, then=Value(now - dt.timedelta(days=days)))
            for store_id, days in days_by_store.items()
        ],
        default=Value(now - dt.timedelta(days=default_days)),
        output_field=DateTimeField(),
    )
    return (
        queryset.filter(merged_into__isnull=True)
        .annotate(last_purchase=_last_purchase("pk"), lapse_cutoff=cutoff)
        .filter(last_purchase__lt=F("lapse_cutoff"))
        .annotate(spend=_spend("pk"), order_count=_orders("pk"))
        .order_by("last_purchase", "pk")
    )
