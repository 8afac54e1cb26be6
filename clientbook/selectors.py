"""Reads of the client book: whom a viewer may see (an associate: their store's customers and those who follow
them), a customer by their WeCom external_userid, the workbench's customer list, an associate's open tasks.

The sidebar's customer 360 itself is read in `clientbook.profile`, in hand-written SQL, from the same scope.
"""

import contextlib
from dataclasses import dataclass

from django.db.models import Max, Prefetch, Q, QuerySet

from associates.models import Associate
from associates.selectors import user_id_store_ids, user_store_ids
from clientbook.models import FollowRelation, FollowUpTask
from customers.models import Customer, CustomerTag, Identity, Order
from customers.phones import InvalidPhone, phone_normalize


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


def associate_open_tasks(*, associate: Associate) -> list[FollowUpTask]:
    """What the associate still has to do, soonest first."""
    return list(
        FollowUpTask.objects.filter(associate=associate, done_at__isnull=True)
        .select_related("customer")
        .order_by("due_on", "pk")[:100]
    )
