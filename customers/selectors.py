"""Reads about customers: who may see whom, the customer 360 profile, and purchase history.

The profile is a fixed handful of queries whatever the length of the customer's history: the figures
are aggregates in the database, never Python loops over orders.
"""

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Min, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from associates.models import Associate, FollowRelation
from associates.selectors import user_store_ids
from customers.categories import category_label
from customers.models import Customer, CustomerTag, Identity, Order, OrderLine
from customers.phones import InvalidPhone, phone_normalize

# Lifetime-spend tiers (CNY) and the recency that makes a customer "lapsing".
TIERS = [(Decimal("20000"), "黑金"), (Decimal("8000"), "金卡"), (Decimal("2000"), "银卡"), (Decimal("0"), "普通")]
LAPSING_AFTER = timedelta(days=120)
FAVOURITE_CATEGORIES = 3


def customers_visible(*, viewer) -> QuerySet[Customer]:
    """Customers `viewer` may see: an Associate sees their store's customers and those who follow them
    (a store manager: all their managed stores'); a staff user sees their stores' customers (HQ and
    superusers: everyone). Merged records are hidden."""
    customers = Customer.objects.filter(merged_into__isnull=True)
    if isinstance(viewer, Associate):
        follows = FollowRelation.objects.filter(associate=viewer, ended_at__isnull=True).values("customer_id")
        stores = {viewer.store_id}
        if viewer.role == Associate.Role.STORE_MANAGER and viewer.user_id:
            # A store manager in the sidebar sees every store they manage in admin (HQ: all).
            managed = user_store_ids(user=viewer.user)
            if managed is None:
                return customers
            stores |= managed
        return customers.filter(Q(primary_store__in=stores) | Q(pk__in=follows))
    store_ids = user_store_ids(user=viewer)
    return customers if store_ids is None else customers.filter(primary_store__in=store_ids)


def customer_by_external_userid(*, viewer: Associate, external_userid: str) -> Customer | None:
    """The customer behind a WeCom external_userid, if `viewer` may see them (None: the caller answers 404)."""
    return (
        customers_visible(viewer=viewer)
        .filter(identities__kind=Identity.Kind.WECOM_EXTERNAL_USERID, identities__value=external_userid)
        .select_related("primary_store")
        .first()
    )


@dataclass(frozen=True)
class Figures:
    lifetime_spend: Decimal
    orders: int
    returns: int
    average_order_value: Decimal
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    favourite_categories: list[str]
    tier: str
    segment: str


def _line_amount() -> ExpressionWrapper:
    return ExpressionWrapper(
        F("quantity") * F("unit_price") - F("discount"), output_field=DecimalField(max_digits=14, decimal_places=2)
    )


def customer_figures(*, customer: Customer) -> Figures:
    """Spend, counts and favourites across every channel (two aggregate queries)."""
    # A returned or cancelled order is reversed whole; a partial return arrives as negative lines, whose
    # negative total the sum takes care of.
    kept = ~Q(status__in=[Order.Status.CANCELLED, Order.Status.RETURNED])
    totals = customer.orders.aggregate(
        spend=Coalesce(Sum("total_amount", filter=kept), Decimal("0")),
        orders=Count("pk", filter=kept & Q(total_amount__gt=0)),
        returns=Count("pk", filter=Q(status=Order.Status.RETURNED) | Q(total_amount__lt=0)),
        first=Min("placed_at"),
        last=Max("placed_at", filter=kept & Q(total_amount__gt=0)),
    )
    spend = totals["spend"]
    favourites = list(
        OrderLine.objects.filter(order__customer=customer, quantity__gt=0)
        .exclude(order__status__in=[Order.Status.CANCELLED, Order.Status.RETURNED])
        .exclude(product__category="")
        .values("product__category")
        .annotate(amount=Sum(_line_amount()))
        .order_by("-amount", "product__category")
        .values_list("product__category", flat=True)[:FAVOURITE_CATEGORIES]
    )
    orders = totals["orders"]
    return Figures(
        lifetime_spend=spend,
        orders=orders,
        returns=totals["returns"],
        average_order_value=(spend / orders).quantize(Decimal("0.01")) if orders else Decimal("0.00"),
        first_purchase_at=totals["first"],
        last_purchase_at=totals["last"],
        favourite_categories=[category_label(code) for code in favourites],
        tier=customer_tier(lifetime_spend=spend),
        segment=customer_segment(orders=orders, lifetime_spend=spend, last_purchase_at=totals["last"]),
    )


def customer_tier(*, lifetime_spend: Decimal) -> str:
    return next(name for threshold, name in TIERS if lifetime_spend >= threshold)


def customer_segment(*, orders: int, lifetime_spend: Decimal, last_purchase_at: datetime | None) -> str:
    """A plain-words RFM segment an associate can act on."""
    if not orders or last_purchase_at is None:
        return "潜在客户"
    lapsing = timezone.now() - last_purchase_at > LAPSING_AFTER
    valuable = lifetime_spend >= TIERS[2][0] or orders >= 5
    if orders == 1 and not lapsing:
        return "新客"
    if valuable:
        return "重要挽回" if lapsing else "重要价值"
    return "流失风险" if lapsing else "一般维护"


def customer_identities(*, customer: Customer) -> list[Identity]:
    return list(customer.identities.order_by("kind", "pk"))


def customer_orders_list(*, customer: Customer, offset: int = 0, limit: int = 10) -> list[Order]:
    """Newest first, every channel, with store, lines and products (two queries per page)."""
    return list(
        customer.orders.select_related("store")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("line_no")))
        .order_by("-placed_at", "-pk")[offset : offset + limit]
    )


WORKBENCH_PAGE = 20


def workbench_customers_list(*, associate: Associate, query: str = "", tag: str = "", page: int = 1) -> dict:
    """The associate's customers, searchable by name, phone or any identity value, filterable by tag;
    one page at a time, with each customer's last purchase and tags (a fixed number of queries)."""
    customers = customers_visible(viewer=associate)
    query = query.strip()
    if query:
        match = Q(name__icontains=query) | Q(identities__value=query)
        with contextlib.suppress(InvalidPhone):  # not a phone number: name and ids still match
            match |= Q(phone=phone_normalize(query))
        customers = customers.filter(match)
    if tag:
        customers = customers.filter(customer_tags__tag__name=tag)
    offset = (max(page, 1) - 1) * WORKBENCH_PAGE
    rows = list(
        customers.distinct()
        .select_related("primary_store")
        .prefetch_related(Prefetch("customer_tags", queryset=CustomerTag.objects.select_related("tag")))
        .order_by("name", "pk")[offset : offset + WORKBENCH_PAGE + 1]
    )
    has_more = len(rows) > WORKBENCH_PAGE
    rows = rows[:WORKBENCH_PAGE]
    last = dict(
        Order.objects.filter(customer__in=rows)
        .exclude(status__in=[Order.Status.CANCELLED, Order.Status.RETURNED])
        .values("customer_id")
        .annotate(last=Max("placed_at"))
        .values_list("customer_id", "last")
    )
    for customer in rows:
        customer.last_purchase_at = last.get(customer.pk)
    return {"customers": rows, "has_more": has_more, "page": max(page, 1)}
