"""The attribution rule: which associate (and store) an order is credited to, and the touch that earned it.

- A store POS order that names the cashier's associate is theirs, whatever the chat history says.
- Otherwise the touches (insights.touches) of the customer's golden record within `window_days` before the order
  decide: the last one takes it all (last touch), or every associate who touched the customer in the window
  takes an equal share, each through their latest touch (split). A coupon redeemed in this very order is a
  touch at the order's moment.
- A store POS order nobody touched is the store's own sale (no associate).
- An order collected at a store's till through a pickup code (fulfilment: a hold the associate placed, or a BOPIS
  order) is credited whole to the pickup's associate and to the pickup's store, before every rule above: she found
  the size, held it and the customer came for it. A pickup without an associate leaves the order to the rules above.
- A return (customers.returns: an order with negative lines against the original, taken back in any store) takes
  its amount back from whoever the original sale was credited to, in the same shares — the mall's associate, not
  the store that took the goods back — and counts no order (share 0). A replayed return is no new order, so the
  figures drop once. An exchange's new sale is a sale of its own, credited by the rules above.
Each order's rows are replaced as a whole, so recomputing a period after a rule change is just running it again.
"""

import dataclasses
import datetime as dt
from collections import defaultdict
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.utils import timezone

from associates.models import Associate
from customers.models import Channel, Order
from customers.selectors import customer_survivor_ids
from fulfilment.models import Pickup
from insights.models import Attribution, AttributionConfig, Rule, TouchKind
from insights.touches import TOUCH_SOURCES, Touch

CHUNK = 2000
# Redemptions are recorded when the POS or mall calls, which can be a little after the order's own timestamp.
REDEEM_GRACE = dt.timedelta(days=1)
SHARE_QUANTUM = Decimal("0.0001")
CENT = Decimal("0.01")


@dataclasses.dataclass(frozen=True)
class RuleInForce:
    rule: str
    window_days: int


def attribution_config_get() -> AttributionConfig:
    config, _ = AttributionConfig.objects.get_or_create(pk=1)
    return config


def attribution_config_set(*, rule: str, window_days: int) -> AttributionConfig:
    """Change the rule in force; attributions already made keep theirs until their period is recomputed."""
    if rule not in Rule.values:
        raise ValueError(f"unknown rule {rule!r}")
    if not 1 <= window_days <= 365:
        raise ValueError("window_days must be 1..365")
    config = attribution_config_get()
    AttributionConfig.objects.filter(pk=config.pk).update(rule=rule, window_days=window_days, updated_at=timezone.now())
    config.refresh_from_db()
    return config


def golden_ids() -> tuple[dict[int, int], dict[int, set[int]]]:
    """(merged-away id → golden id, golden id → its merged-away ids). Merges are few, so all of them fit."""
    golden = customer_survivor_ids()
    members: dict[int, set[int]] = defaultdict(set)
    for pk, root in golden.items():
        members[root].add(pk)
    return golden, members


def _latest(touches: list[Touch]) -> Touch:
    return max(touches, key=lambda t: (t.at, t.ref_id))


def _touches_in_window(order: dict, touches: list[Touch], window: dt.timedelta) -> list[Touch]:
    placed_at = order["placed_at"]
    chosen = []
    for touch in touches:
        if touch.kind == TouchKind.COUPON_REDEEM and touch.order_ref and touch.order_ref == order["external_id"]:
            chosen.append(dataclasses.replace(touch, at=placed_at))
        elif placed_at - window <= touch.at <= placed_at:
            chosen.append(touch)
    return chosen


def attribute_order(
    *, order: dict, touches: list[Touch], rule: RuleInForce, associate_stores: dict[int, int], now: dt.datetime
) -> list[Attribution]:
    """The attribution rows of one order (a dict of Order values) given its customer's touches."""
    total: Decimal = order["total_amount"]
    base = {
        "order_id": order["pk"],
        "customer_id": order["customer_id"],
        "placed_at": order["placed_at"],
        "rule": rule.rule,
        "window_days": rule.window_days,
        "computed_at": now,
    }
    if order.get("pickup_associate_id"):
        return [
            Attribution(
                **base,
                associate_id=order["pickup_associate_id"],
                store_id=order["pickup_store_id"],
                amount=total,
                touch_kind=TouchKind.PICKUP,
                touch_id=order["pickup_id"],
            )
        ]
    if order["channel"] == Channel.STORE_POS and order["associate_id"]:
        store_id = order["store_id"] or associate_stores.get(order["associate_id"])
        return [
            Attribution(
                **base,
                associate_id=order["associate_id"],
                store_id=store_id,
                amount=total,
                touch_kind=TouchKind.CASHIER,
            )
        ]
    window = dt.timedelta(days=rule.window_days)
    chosen = _touches_in_window(order, touches, window)
    if not chosen:
        if order["channel"] == Channel.STORE_POS and order["store_id"]:
            return [
                Attribution(
                    **base, associate_id=None, store_id=order["store_id"], amount=total, touch_kind=TouchKind.STORE
                )
            ]
        return []
    if rule.rule == Rule.LAST_TOUCH:
        winners = [_latest(chosen)]
    else:
        by_associate: dict[int, list[Touch]] = defaultdict(list)
        for touch in chosen:
            by_associate[touch.associate_id].append(touch)
        winners = sorted((_latest(ts) for ts in by_associate.values()), key=lambda t: (t.at, t.ref_id))
    share = (Decimal(1) / len(winners)).quantize(SHARE_QUANTUM, rounding=ROUND_DOWN)
    amount = (total * share).quantize(CENT, rounding=ROUND_DOWN)
    rows = []
    for index, touch in enumerate(winners):
        last = index == len(winners) - 1
        rows.append(
            Attribution(
                **base,
                associate_id=touch.associate_id,
                store_id=touch.store_id or associate_stores.get(touch.associate_id),
                # The last share takes the rounding remainder, so shares sum to 1 and amounts to the total.
                share=Decimal(1) - share * (len(winners) - 1) if last else share,
                amount=total - amount * (len(winners) - 1) if last else amount,
                touch_kind=touch.kind,
                touch_id=touch.ref_id,
                touch_at=touch.at,
            )
        )
    return rows


def _pickups_attach(orders: list[dict]) -> None:
    """Mark the orders collected through a pickup with an associate (the pickup rule of the module's docstring)."""
    by_pk = {o["pk"]: o for o in orders}
    collected = Pickup.objects.filter(
        order_id__in=list(by_pk), status=Pickup.Status.COLLECTED, associate_id__isnull=False
    ).values_list("order_id", "pk", "associate_id", "store_id")
    for order_id, pickup_id, associate_id, store_id in collected:
        by_pk[order_id].update(pickup_id=pickup_id, pickup_associate_id=associate_id, pickup_store_id=store_id)


def attribute_return(
    *, order: dict, credited: list[Attribution], rule: RuleInForce, now: dt.datetime
) -> list[Attribution]:
    """The attribution rows of a return (a dict of Order values, its total negative) given its original sale's rows:
    each credited associate or store gives back its share of the refund; the last takes the rounding remainder."""
    total: Decimal = order["total_amount"]
    credited = sorted(credited, key=lambda row: (row.associate_id is None, row.associate_id or 0, row.store_id or 0))
    rows, given = [], Decimal("0.00")
    for index, sale in enumerate(credited):
        last = index == len(credited) - 1
        amount = total - given if last else (total * sale.share).quantize(CENT, rounding=ROUND_DOWN)
        given += amount
        rows.append(
            Attribution(
                order_id=order["pk"],
                customer_id=order["customer_id"],
                placed_at=order["placed_at"],
                rule=rule.rule,
                window_days=rule.window_days,
                computed_at=now,
                associate_id=sale.associate_id,
                store_id=sale.store_id,
                share=Decimal("0"),
                amount=amount,
                touch_kind=TouchKind.RETURN,
            )
        )
    return rows


def _returns_attributed(orders: list[dict], sales: list[Attribution], rule: RuleInForce, now) -> list[Attribution]:
    """The rows of the returns among `orders`, from their originals' rows: those just computed in `sales`, else the
    stored ones (an original attributed in an earlier chunk or run)."""
    returns = [order for order in orders if order["original_id"]]
    if not returns:
        return []
    credited: dict[int, list[Attribution]] = defaultdict(list)
    for row in sales:
        credited[row.order_id].append(row)
    stored = {order["original_id"] for order in returns} - set(credited)
    for row in Attribution.objects.filter(order_id__in=stored).exclude(touch_kind=TouchKind.RETURN):
        credited[row.order_id].append(row)
    rows = []
    for order in returns:
        rows += attribute_return(order=order, credited=credited.get(order["original_id"], []), rule=rule, now=now)
    return rows


def _attribute_chunk(orders: list[dict], rule: RuleInForce, golden, members, associate_stores) -> int:
    now = timezone.now()
    for order in orders:
        if order["customer_id"] is not None:
            order["customer_id"] = golden.get(order["customer_id"], order["customer_id"])
    _pickups_attach(orders)
    customer_ids = {o["customer_id"] for o in orders if o["customer_id"] is not None}
    raw_ids = sorted(customer_ids | {m for g in customer_ids for m in members.get(g, ())})
    by_customer: dict[int, list[Touch]] = defaultdict(list)
    if raw_ids:
        start = min(o["placed_at"] for o in orders) - dt.timedelta(days=rule.window_days)
        end = max(o["placed_at"] for o in orders) + REDEEM_GRACE
        for source in TOUCH_SOURCES:
            for touch in source(raw_ids, start, end):
                by_customer[golden.get(touch.customer_id, touch.customer_id)].append(touch)
    rows = []
    for order in orders:
        if order["original_id"]:
            continue  # a return: credited back below, from its original's rows
        touches = by_customer.get(order["customer_id"], []) if order["customer_id"] is not None else []
        rows += attribute_order(order=order, touches=touches, rule=rule, associate_stores=associate_stores, now=now)
    rows += _returns_attributed(orders, rows, rule, now)
    order_ids = [o["pk"] for o in orders]
    with transaction.atomic():
        # Lock the orders, in pk order: an incremental run and a recompute meeting on the same orders take turns.
        locked = Order.objects.select_for_update(no_key=True).filter(pk__in=order_ids).order_by("pk")
        list(locked.values_list("pk", flat=True))
        Attribution.objects.filter(order_id__in=order_ids).delete()
        Attribution.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


_ORDER_FIELDS = (
    "pk",
    "customer_id",
    "channel",
    "associate_id",
    "store_id",
    "placed_at",
    "total_amount",
    "external_id",
    "original_id",
)


def _run(queryset, rule: RuleInForce) -> tuple[int, int]:
    golden, members = golden_ids()
    associate_stores = dict(Associate.objects.values_list("pk", "store_id"))
    orders_done = rows = 0
    last_pk = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last_pk).order_by("pk").values(*_ORDER_FIELDS)[:CHUNK])
        if not chunk:
            return orders_done, rows
        rows += _attribute_chunk(chunk, rule, golden, members, associate_stores)
        orders_done += len(chunk)
        last_pk = chunk[-1]["pk"]


def attribution_recompute(*, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """Re-attribute every order placed in [start, end) under the rule in force; returns (orders, rows)."""
    config = attribution_config_get()
    rule = RuleInForce(config.rule, config.window_days)
    return _run(Order.objects.filter(placed_at__gte=start, placed_at__lt=end), rule)


def attribution_refresh() -> tuple[int, int]:
    """Attribute the orders that arrived since the last run (incremental; safe to run twice)."""
    config = attribution_config_get()
    through = Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    result = _run(
        Order.objects.filter(pk__gt=config.attributed_through_order_id, pk__lte=through),
        RuleInForce(config.rule, config.window_days),
    )
    AttributionConfig.objects.filter(pk=config.pk, attributed_through_order_id__lt=through).update(
        attributed_through_order_id=through
    )
    # An order attributed before a till collected it through a pickup (a POS order the till named, a BOPIS order):
    # the pickup rule now applies to it.
    collected = Pickup.objects.filter(
        status=Pickup.Status.COLLECTED, associate_id__isnull=False, order_id__lte=through
    ).values("order_id")
    credited = Attribution.objects.filter(touch_kind=TouchKind.PICKUP).values("order_id")
    later = _run(
        Order.objects.filter(pk__in=collected).exclude(pk__in=credited), RuleInForce(config.rule, config.window_days)
    )
    return result[0] + later[0], result[1] + later[1]
