"""Reads about stores and who may see them."""

from django.contrib.auth.models import AbstractBaseUser

from associates.models import Associate, FollowUpTask


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


def associate_open_tasks(*, associate: Associate) -> list[FollowUpTask]:
    """What the associate still has to do, soonest first."""
    return list(
        FollowUpTask.objects.filter(associate=associate, done_at__isnull=True)
        .select_related("customer")
        .order_by("due_on", "pk")[:100]
    )
