"""Reads about stores and who may see them."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from associates.models import Associate, FollowRelation, FollowUpTask
from customers.models import Customer, Identity


def user_store_ids(*, user: AbstractBaseUser) -> frozenset[int] | None:
    """The stores a staff user may see and manage; None means every store (superusers and HQ)."""
    cached = getattr(user, "_omni_store_ids", False)
    if cached is not False:
        return cached
    if user.is_superuser or user.has_perm("associates.view_all_stores"):
        store_ids = None
    else:
        store_ids = frozenset(user.managed_stores.values_list("pk", flat=True))
    user._omni_store_ids = store_ids
    return store_ids


def sidebar_customer_get(*, associate: Associate, external_userid: str) -> Customer | None:
    """The customer behind a WeCom external_userid if this associate may see them: a customer of their
    store, or one who follows them. None otherwise (the caller answers 404, so nothing leaks)."""
    followed = FollowRelation.objects.filter(associate=associate, external_userid=external_userid)
    return (
        Customer.objects.filter(identities__kind=Identity.Kind.WECOM_EXTERNAL_USERID, identities__value=external_userid)
        .filter(Q(primary_store=associate.store_id) | Q(pk__in=followed.values("customer_id")))
        .select_related("primary_store")
        .first()
    )


def associate_open_tasks(*, associate: Associate) -> list[FollowUpTask]:
    """What the associate still has to do, soonest first."""
    return list(
        FollowUpTask.objects.filter(associate=associate, done_at__isnull=True)
        .select_related("customer")
        .order_by("due_on", "pk")[:100]
    )
