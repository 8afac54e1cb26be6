"""Reads about customers: merged customers' survivors, who may see whom, tiers and segments, and the workbench's
customer list.

The sidebar's customer 360 itself is read in `customers.profile`, in hand-written SQL.
"""

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Func, IntegerField, Max, Prefetch, Q, QuerySet, Value
from django.utils import timezone

from associates.models import Associate, FollowRelation
from associates.selectors import user_id_store_ids, user_store_ids
from customers.models import Customer, CustomerTag, Identity, Order
from customers.phones import InvalidPhone, phone_normalize
from omni import rawsql
from omni.errors import ApplicationError

# Lifetime-spend tiers (CNY) and the recency that makes a customer "lapsing".
TIERS = [(Decimal("20000"), "黑金"), (Decimal("8000"), "金卡"), (Decimal("2000"), "银卡"), (Decimal("0"), "普通")]
LAPSING_AFTER = timedelta(days=120)

# ---------------------------------------------------------------------------------------------------------------
# Merged customers. A merge points the retired record at the kept one (`merged_into`), and the kept one may be
# merged again later: a record stands for the record at the end of its chain, its survivor. Every reader that
# follows merges does so here (tests/test_merge_chain.py holds them to it).

_CUSTOMER = Customer._meta.db_table


def _merge_chain(seed: str) -> str:
    """A recursive CTE `chain(start_id, id, next_id)`: each record matching `seed` (SQL on alias `seed`) and every
    record its merges lead to. UNION, not UNION ALL, ends the walk on a cycle, which `customer_merge` cannot make
    (it merges only records not merged themselves) but the column alone would allow."""
    return (
        f"WITH RECURSIVE chain(start_id, id, next_id) AS ("
        f"SELECT seed.id, seed.id, seed.merged_into_id FROM {_CUSTOMER} seed WHERE {seed} "
        f"UNION SELECT chain.start_id, c.id, c.merged_into_id FROM chain JOIN {_CUSTOMER} c ON c.id = chain.next_id) "
    )


def customer_survivor_ids(*, customer_ids: Iterable[int] | None = None) -> dict[int, int]:
    """{id: its survivor's id} for `customer_ids` (an unmerged id maps to itself, an unknown one is left out), or,
    without them, for every merged-away record. One statement whatever the chains' length; an id on a cycle stands
    for itself."""
    if customer_ids is None:
        seed, params = "seed.merged_into_id IS NOT NULL", []
    else:
        params = sorted(set(customer_ids))
        if not params:
            return {}
        seed = f"seed.id IN ({', '.join(['%s'] * len(params))})"
    rows = rawsql.rows(
        _merge_chain(seed) + "SELECT start_id, MAX(CASE WHEN next_id IS NULL THEN id END) FROM chain GROUP BY start_id",
        params,
    )
    return {start: survivor or start for start, survivor in rows}


class CustomerSurvivorId(Func):
    """`customer_survivor_ids` as an SQL expression, for readers that stay in the database: the survivor's id of a
    customer id (a column, an OuterRef, a Value); NULL for no customer."""

    template = (
        "(" + _merge_chain("seed.id = %(expressions)s") + "SELECT COALESCE(MAX(CASE WHEN next_id IS NULL THEN id END), "
        "MAX(start_id)) FROM chain)"
    )
    output_field = IntegerField()


def customer_survivor(*, customer_id: int) -> Customer | None:
    """The record `customer_id` stands for today (`customer_survivor_ids`), or None when there is no such customer."""
    return Customer.objects.filter(pk=CustomerSurvivorId(Value(customer_id))).first()


def customer_record_ids(*, customer_id: int) -> list[int]:
    """The ids of one person's records: the survivor `customer_id` stands for, first, then every record whose
    survivor it is (by pk). Coupons and campaign receipts stay on the record they were made for, so a person's are
    those of all these records."""
    survivor_id = customer_survivor_ids(customer_ids=[customer_id]).get(customer_id)
    if survivor_id is None:
        raise ApplicationError("customer_not_found", "没有找到这位客户。", status_code=404)
    rows = rawsql.rows(
        f"WITH RECURSIVE person(id) AS (SELECT id FROM {_CUSTOMER} WHERE id = %s "
        f"UNION SELECT c.id FROM {_CUSTOMER} c JOIN person ON c.merged_into_id = person.id) "
        f"SELECT id FROM person WHERE id <> %s ORDER BY id",
        [survivor_id, survivor_id],
    )
    return [survivor_id, *(pk for (pk,) in rows)]


@dataclass(frozen=True)
class CustomerScope:
    """Whom a viewer may see: everyone, or customers of `store_ids` and those following `follower_id`."""

    everyone: bool
    store_ids: frozenset[int] = frozenset()
    follower_id: int | None = None


def customer_scope(*, viewer) -> CustomerScope:
    """The visibility rule: an Associate sees their store's customers and those who follow them (a store
    manager: all their managed stores'); a staff user sees their stores' customers (HQ and superusers:
    everyone). Merged records are hidden from everybody (by the readers of this scope)."""
    if isinstance(viewer, Associate):
        stores = {viewer.store_id} - {None}
        if viewer.role == Associate.Role.STORE_MANAGER and viewer.user_id:
            # A store manager in the sidebar sees every store they manage in admin (HQ: all).
            managed = user_id_store_ids(user_id=viewer.user_id)
            if managed is None:
                return CustomerScope(everyone=True)
            stores |= managed
        return CustomerScope(everyone=False, store_ids=frozenset(stores), follower_id=viewer.pk)
    store_ids = user_store_ids(user=viewer)
    return CustomerScope(everyone=True) if store_ids is None else CustomerScope(everyone=False, store_ids=store_ids)


def customers_visible(*, viewer) -> QuerySet[Customer]:
    """The customers `viewer` may see (`customer_scope`), merged records hidden."""
    customers = Customer.objects.filter(merged_into__isnull=True)
    scope = customer_scope(viewer=viewer)
    if scope.everyone:
        return customers
    seen = Q(primary_store__in=scope.store_ids)
    if scope.follower_id is not None:
        follows = FollowRelation.objects.filter(associate_id=scope.follower_id, ended_at__isnull=True)
        seen |= Q(pk__in=follows.values("customer_id"))
    return customers.filter(seen)


def customer_by_external_userid(*, viewer: Associate, external_userid: str) -> Customer | None:
    """The customer behind a WeCom external_userid, if `viewer` may see them (None: the caller answers 404)."""
    return (
        customers_visible(viewer=viewer)
        .filter(identities__kind=Identity.Kind.WECOM_EXTERNAL_USERID, identities__value=external_userid)
        .select_related("primary_store")
        .first()
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
