"""The events that change what auto-tag rules select, queueing the rules of their kind for the customers they touch
(customers.tasks.auto_tags_refresh_task, after commit). Called by the modules above tasks.py: the ingestion API (an
order), clientbook's add callback (a code), communities' join callback, coupons' redemption. Nothing is queued when
no active rule of the kind exists, so the hot paths pay one indexed lookup."""

from collections.abc import Iterable

from django.db import transaction

from customers.models import AutoTagRule, Order
from customers.tasks import auto_tags_refresh_task


def auto_tags_refresh_later(*, customer_ids: Iterable[int | None], kind: str) -> bool:
    """Queue the active rules of `kind` for these customers (`customer_ids` may be a query: read only when a rule
    of the kind exists)."""
    if not AutoTagRule.objects.filter(kind=kind, active=True).exists():
        return False
    ids = sorted({pk for pk in customer_ids if pk})
    if not ids:
        return False
    transaction.on_commit(lambda: auto_tags_refresh_task.delay(customer_ids=ids, kinds=[kind]))
    return True


def purchase_rules_refresh_later(*, order_ids: list[int]) -> bool:
    if not order_ids:
        return False
    customer_ids = Order.objects.filter(pk__in=order_ids).values_list("customer_id", flat=True)
    return auto_tags_refresh_later(customer_ids=list(customer_ids), kind=AutoTagRule.Kind.PURCHASE)
