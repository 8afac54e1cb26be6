"""Auto-tag rules (AutoTagRule): each selects customers in one SQL query and tags exactly them, set-based.

A rule's kind names how it selects: `purchase` is here (orders: category, spend, frequency, a window of recent days,
the RFM segment of customers.selectors); `code`, `community` and `coupon` live with the data they read, in the apps
above this one, which register their selection with `@auto_tag_kind(kind)` when they are ready (clientbook.tags,
communities.tag_rules, coupons.tag_rules) — this floor never imports them.

`auto_tag_rule_apply` makes a rule's CustomerTags (rule = the rule, source rule) equal to its selection: one DELETE
of those it no longer selects, one INSERT … SELECT of those new (a customer who already has the tag, by hand or by
another rule, keeps that row and its provenance). Run for all rules nightly (customers.tasks.auto_tags_apply_task,
beat) and for a few customers on the events that change a kind (an order ingested, a coupon redeemed, a community
join, a code's add: `auto_tags_refresh`). An inactive rule selects nobody, so its tags go.
"""

import datetime as dt
from collections.abc import Callable, Iterable

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Count, DecimalField, Exists, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import AutoTagRule, Customer, CustomerTag, Order, OrderLine
from customers.selectors import customer_segment_case

# A selection: the rule and the moment → the customers it tags, as a query of Customer pks.
Selection = Callable[[AutoTagRule, dt.datetime], QuerySet]
_KINDS: dict[str, Selection] = {}
# Orders that count as purchases (as campaigns and the profile count them).
COUNTED = ~Q(status__in=[Order.Status.CANCELLED, Order.Status.RETURNED])


def auto_tag_kind(kind: str) -> Callable[[Selection], Selection]:
    """Register the selection of one AutoTagRule.Kind (apps above customers call it from their ready())."""
    if kind not in AutoTagRule.Kind.values:
        raise ValueError(f"unknown auto-tag kind {kind!r}")

    def register(selection: Selection) -> Selection:
        _KINDS[kind] = selection
        return selection

    return register


def auto_tag_rule_select(*, rule: AutoTagRule, now: dt.datetime | None = None) -> QuerySet:
    """The pks of the customers `rule` tags now (none when inactive or its kind's app is not installed)."""
    selection = _KINDS.get(rule.kind)
    if not rule.active or selection is None:
        return Customer.objects.none().values("pk")
    return selection(rule, now or timezone.now())


@auto_tag_kind(AutoTagRule.Kind.PURCHASE)
def purchase_select(rule: AutoTagRule, now: dt.datetime) -> QuerySet:
    """Customers whose counted orders — within the last `within_days`, with a line of `category` when set — number at
    least `min_orders` and sum to at least `min_spend`; and whose RFM segment (over all their orders) is `segment`."""
    customers = Customer.objects.filter(merged_into__isnull=True)
    if rule.within_days or rule.category or rule.min_orders or rule.min_spend is not None:
        orders = Order.objects.filter(COUNTED, customer__isnull=False)
        if rule.within_days:
            orders = orders.filter(placed_at__gte=now - dt.timedelta(days=rule.within_days))
        if rule.category:
            orders = orders.filter(
                Exists(OrderLine.objects.filter(order=OuterRef("pk"), product__category=rule.category))
            )
        per_customer = orders.order_by().values("customer").annotate(n=Count("pk"), spend=Sum("total_amount"))
        per_customer = per_customer.filter(n__gte=max(rule.min_orders or 1, 1))
        if rule.min_spend is not None:
            per_customer = per_customer.filter(spend__gte=rule.min_spend)
        customers = customers.filter(pk__in=per_customer.values("customer"))
    if rule.segment:
        lifetime = Order.objects.filter(COUNTED, customer=OuterRef("pk")).order_by().values("customer")
        customers = customers.annotate(
            orders_n=Coalesce(Subquery(lifetime.annotate(n=Count("pk")).values("n")), Value(0)),
            lifetime_spend=Coalesce(
                Subquery(lifetime.annotate(s=Sum("total_amount")).values("s")),
                Value(0),
                output_field=DecimalField(max_digits=14, decimal_places=2),
            ),
            last_at=Subquery(lifetime.annotate(m=Max("placed_at")).values("m")),
        )
        segment = customer_segment_case(
            orders="orders_n", lifetime_spend="lifetime_spend", last_purchase_at="last_at", now=now
        )
        customers = customers.alias(segment=segment).filter(segment=rule.segment)
    return customers.values("pk")


def auto_tag_rule_apply(
    *, rule: AutoTagRule, customer_ids: Iterable[int] | None = None, now: dt.datetime | None = None
) -> tuple[int, int]:
    """Make the rule's tags equal to its selection — for every customer, or only `customer_ids` (an event's).
    Two statements whatever the numbers; returns (added, removed)."""
    now = now or timezone.now()
    selected = auto_tag_rule_select(rule=rule, now=now)
    ids = None if customer_ids is None else sorted(set(customer_ids))
    if ids is not None:
        selected = selected.filter(pk__in=ids)
    try:
        select_sql, select_params = selected.query.sql_with_params()
    except EmptyResultSet:  # an inactive rule (or one whose kind is not installed) selects nobody
        select_sql, select_params = None, ()
    customer_table, tag_table = Customer._meta.db_table, CustomerTag._meta.db_table
    added = 0
    with transaction.atomic():
        mine = CustomerTag.objects.filter(rule=rule)
        if ids is not None:
            mine = mine.filter(customer_id__in=ids)
        removed = (mine if select_sql is None else mine.exclude(customer_id__in=selected)).delete()[0]
        if select_sql is not None:
            with connection.cursor() as cursor:
                # ON CONFLICT: a concurrent run (nightly and an event's) or a hand-added tag keeps the row it finds.
                cursor.execute(
                    f"""INSERT INTO {tag_table} (customer_id, tag_id, source, rule_id, created_at, added_by_id)
                    SELECT c.id, %s, %s, %s, %s, NULL FROM {customer_table} c WHERE c.id IN ({select_sql})
                    ON CONFLICT (customer_id, tag_id) DO NOTHING""",
                    [rule.tag_id, CustomerTag.Source.RULE, rule.pk, now, *select_params],
                )
                added = max(cursor.rowcount, 0)
        if ids is None:
            count = CustomerTag.objects.filter(rule=rule).count()
            AutoTagRule.objects.filter(pk=rule.pk).update(last_run_at=now, last_count=count)
    return added, removed


def auto_tag_rules_apply(*, now: dt.datetime | None = None) -> dict[int, tuple[int, int]]:
    """Every rule, active or not (an inactive one loses its tags): the nightly run."""
    now = now or timezone.now()
    return {rule.pk: auto_tag_rule_apply(rule=rule, now=now) for rule in AutoTagRule.objects.order_by("pk")}


def auto_tags_refresh(*, customer_ids: Iterable[int], kinds: Iterable[str]) -> int:
    """An event changed these customers' data of these kinds: their tags of the active rules of those kinds
    again. Returns how many tags were added or removed."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    changed = 0
    for rule in AutoTagRule.objects.filter(kind__in=list(kinds), active=True).order_by("pk"):
        added, removed = auto_tag_rule_apply(rule=rule, customer_ids=ids)
        changed += added + removed
    return changed
