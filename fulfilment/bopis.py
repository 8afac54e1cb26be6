"""BOPIS: an online order picked up in store, from the orders API to the customer at the counter.

- Intake (`bopis_orders_recorded`, after each orders batch commits, through `customers.ingestion`'s registry; and
  `bopis_orders_take_in` in the beat's sweep, which finds any order a lost hook missed): each store-pickup order of
  the mall or the mini-program, placed or paid, gets one `Pickup(kind=order, status=pending)` at its store, with the
  till's code and the card's token; its associate is the customer's friend at that store (the order's associate, else
  her primary associate, else her longest friend there), else none. Set-based, idempotent by the request number
  `order:<id>` (unique with the kind): a re-sent order creates nothing twice.
- The orders API's later status of the order: cancelled or returned cancels the open pickup, completed collects it.
- Ready (`bopis_pickup_ready`, the OMS or POS through `POST /api/v1/pickups/ready`): pending → ready, kept for the
  store's `hold_hours`; the store's associate gets a follow-up task (message the customer) and a notice, and the
  customer a message from her (`add_msg_template`, single, after commit: `bopis_customer_message_send`).
- Before it expires (`bopis_remind`, beat): one reminder to the customer, claimed by `reminded_at IS NULL`.
- Expiry (`bopis_expire`, beat): ready and past `expires_at` → expired, the associate told, her task closed.

Messages are claimed before they are sent (a timestamp set by a guarded UPDATE), released only when WeCom was busy,
so a second run or a redelivered task never sends twice.
"""

import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Sum
from django.urls import reverse
from django.utils import timezone

from associates.models import Associate, Store
from clientbook.models import FollowRelation, FollowUpTask
from customers.models import Channel, Order, OrderLine
from customers.selectors import customer_survivor_ids
from fulfilment.models import Pickup, PickupLine
from notices.models import Notice
from notices.notify import notice_send
from omni.errors import ApplicationError
from wecom.client import WeComError, wecom_client

logger = logging.getLogger(__name__)

BOPIS_CHANNELS = (Channel.ONLINE_MALL, Channel.MINI_PROGRAM)
# An order becomes a pickup while it waits; a completed (collected), cancelled or returned one does not.
INTAKE_STATUSES = (Order.Status.PLACED, Order.Status.PAID)
# A pending pickup's expires_at is a placeholder until the OMS says it is ready (then: ready + the store's hold_hours).
# Only ready pickups expire: an order the OMS has not readied is the OMS's business.
PENDING_DAYS = 14
# The sweep looks this far back for store-pickup orders that no hook turned into a pickup.
SWEEP_DAYS = 7
# The customer is reminded this long before her pickup expires (half the hold when the hold is shorter than twice this).
REMIND_BEFORE = timedelta(hours=24)
CODE_ATTEMPTS = 3

S = Pickup.Status


def bopis_request_id(order_id: int) -> str:
    return f"order:{order_id}"


def bopis_task_occasion(pickup_id: int) -> str:
    return f"pickup:{pickup_id}"


def _pickup_code() -> str:
    return f"{secrets.randbelow(10**10):010d}"


# Intake -------------------------------------------------------------------------------------------------


def _orders_to_take_in(*, order_ids: Iterable[int] | None, since: datetime | None):
    orders = Order.objects.filter(
        fulfilment=Order.Fulfilment.STORE_PICKUP,
        channel__in=BOPIS_CHANNELS,
        status__in=INTAKE_STATUSES,
        store__isnull=False,
        customer__isnull=False,
    ).filter(~Exists(Pickup.objects.filter(kind=Pickup.Kind.ORDER, order_id=OuterRef("pk"))))
    if order_ids is not None:
        orders = orders.filter(pk__in=list(order_ids))
    if since is not None:
        # By store and time: the (store, -placed_at) index, not a scan of every order.
        orders = orders.filter(store_id__in=list(Store.objects.values_list("pk", flat=True)), placed_at__gte=since)
    return list(
        orders.order_by("pk").values("pk", "store_id", "customer_id", "associate_id", "customer__primary_associate_id")
    )


def _associates_at_stores(orders: list[dict], survivors: dict[int, int]) -> dict[int, int | None]:
    """{order id: the associate of its customer at its store}: the order's associate if she is the customer's friend
    there, else the customer's primary associate if so, else her longest friend at the store; None when she has none."""
    follows: dict[tuple[int, int], list[int]] = defaultdict(list)
    rows = (
        FollowRelation.objects.filter(
            customer_id__in={survivors.get(o["customer_id"], o["customer_id"]) for o in orders},
            ended_at__isnull=True,
            associate__is_active=True,
            associate__store_id__in={o["store_id"] for o in orders},
        )
        .order_by("followed_at", "pk")
        .values_list("customer_id", "associate__store_id", "associate_id")
    )
    for customer_id, store_id, associate_id in rows:
        follows[(customer_id, store_id)].append(associate_id)
    chosen = {}
    for order in orders:
        friends = follows.get((survivors.get(order["customer_id"], order["customer_id"]), order["store_id"]), [])
        preferred = [a for a in (order["associate_id"], order["customer__primary_associate_id"]) if a in friends]
        chosen[order["pk"]] = (preferred or friends or [None])[0]
    return chosen


def bopis_orders_take_in(
    *, order_ids: Iterable[int] | None = None, since: datetime | None = None, now: datetime | None = None
) -> list[int]:
    """Make the pending pickup of each store-pickup order (among `order_ids`, or placed since `since`) that has none;
    returns the new pickups' ids. Set-based; a concurrent run or a replay creates nothing twice (the unique
    (kind, request_id)); a code taken by another pickup is drawn again."""
    now = now or timezone.now()
    orders = _orders_to_take_in(order_ids=order_ids, since=since)
    if not orders:
        return []
    survivors = customer_survivor_ids(customer_ids={o["customer_id"] for o in orders})
    associates = _associates_at_stores(orders, survivors)
    lines: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for order_id, product_id, quantity in (
        OrderLine.objects.filter(order_id__in=[o["pk"] for o in orders], quantity__gt=0)
        .values("order_id", "product_id")
        .annotate(quantity=Sum("quantity"))
        .values_list("order_id", "product_id", "quantity")
        .order_by("order_id", "product_id")
    ):
        lines[order_id].append((product_id, quantity))

    created: list[int] = []
    waiting = orders
    for _ in range(CODE_ATTEMPTS):
        pickups = {
            bopis_request_id(o["pk"]): Pickup(
                kind=Pickup.Kind.ORDER,
                status=S.PENDING,
                code=_pickup_code(),
                token=secrets.token_urlsafe(24),
                store_id=o["store_id"],
                customer_id=survivors.get(o["customer_id"], o["customer_id"]),
                associate_id=associates[o["pk"]],
                order_id=o["pk"],
                request_id=bopis_request_id(o["pk"]),
                expires_at=now + timedelta(days=PENDING_DAYS),
            )
            for o in waiting
        }
        with transaction.atomic():
            Pickup.objects.bulk_create(pickups.values(), ignore_conflicts=True)
            stored = dict(
                Pickup.objects.filter(kind=Pickup.Kind.ORDER, request_id__in=list(pickups)).values_list(
                    "request_id", "code"
                )
            )
            mine = {
                pickup.order_id: pickup
                for request_id, pickup in pickups.items()
                if stored.get(request_id) == pickup.code
            }
            ids = dict(Pickup.objects.filter(code__in=[p.code for p in mine.values()]).values_list("order_id", "pk"))
            PickupLine.objects.bulk_create(
                PickupLine(pickup_id=ids[order_id], product_id=product_id, quantity=quantity)
                for order_id in mine
                for product_id, quantity in lines[order_id]
            )
        created.extend(ids.values())
        # Rows neither stored by us nor by a concurrent run lost their code to another pickup: draw again.
        waiting = [o for o in waiting if bopis_request_id(o["pk"]) not in stored]
        if not waiting:
            break
    if created:
        logger.info("bopis intake: %d pickups created", len(created))
    return sorted(created)


def bopis_orders_changed(*, order_ids: Iterable[int], now: datetime | None = None) -> dict[str, int]:
    """The orders API's later word on a store-pickup order: cancelled or returned cancels its open pickup, completed
    collects it (the OMS's till closed it). Guarded by the pickup's status: a replay changes nothing."""
    now = now or timezone.now()
    outcomes = {
        S.CANCELLED: ((Order.Status.CANCELLED, Order.Status.RETURNED), "订单已取消或退货"),
        S.COLLECTED: ((Order.Status.COMPLETED,), "订单系统标记已完成取货"),
    }
    counts = {}
    order_ids = list(order_ids)
    for status, (order_statuses, reason) in outcomes.items():
        open_pickups = Pickup.objects.filter(
            kind=Pickup.Kind.ORDER, status__in=Pickup.OPEN, order_id__in=order_ids, order__status__in=order_statuses
        )
        closed = []
        for pickup_id in open_pickups.values_list("pk", flat=True):
            if Pickup.objects.filter(pk=pickup_id, status__in=Pickup.OPEN).update(
                status=status, closed_at=now, close_reason=reason, updated_at=now
            ):
                closed.append(pickup_id)
        _tasks_close(pickup_ids=closed, note=reason, now=now)
        counts[status] = len(closed)
    return counts


def bopis_orders_recorded(*, order_ids: list[int]) -> dict[str, int]:
    """What the fulfilment app does with an orders batch once it has committed."""
    created = bopis_orders_take_in(order_ids=order_ids)
    return {"created": len(created), **bopis_orders_changed(order_ids=order_ids)}


# Ready ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PickupReady:
    pickup: Pickup
    replayed: bool  # it was ready already: nothing was done again


def _store_manager(store_id: int) -> Associate | None:
    managers = Associate.objects.filter(store_id=store_id, role=Associate.Role.STORE_MANAGER, is_active=True)
    return managers.order_by("pk").first()


def _pickup_find(*, channel: str, external_id: str, code: str) -> Pickup:
    if code:
        pickup = Pickup.objects.filter(kind=Pickup.Kind.ORDER, code=code).first()
        if pickup is None:
            raise ApplicationError("unknown_order", f"没有取货码为 {code} 的自提订单。", status_code=404)
        return pickup
    order = Order.objects.filter(channel=channel, external_id=external_id).first()
    if order is None:
        raise ApplicationError("unknown_order", f"没有渠道 {channel} 的订单 {external_id}。", status_code=404)
    if order.fulfilment != Order.Fulfilment.STORE_PICKUP:
        raise ApplicationError("not_store_pickup", f"订单 {external_id} 不是门店自提订单。", status_code=409)
    pickup = Pickup.objects.filter(kind=Pickup.Kind.ORDER, order=order).first()
    if pickup is None:
        # The batch's hook has not run yet (or was lost): take the order in now.
        bopis_orders_take_in(order_ids=[order.pk])
        pickup = Pickup.objects.filter(kind=Pickup.Kind.ORDER, order=order).first()
    if pickup is None:
        raise ApplicationError(
            "pickup_unavailable",
            f"订单 {external_id} 没有可备货的自提单（订单状态：{order.get_status_display()}，或缺少客户、门店）。",
            status_code=409,
        )
    return pickup


def bopis_pickup_ready(
    *,
    store_code: str,
    channel: str,
    external_id: str = "",
    code: str = "",
    store_ids: frozenset[int] | None,
    send_later: Callable[[int], None],
    now: datetime | None = None,
) -> PickupReady:
    """The OMS or the store's POS says the order waits at `store_code`: the pickup becomes ready until the store's
    hold ends, the store's associate gets a task and a notice, and `send_later(pickup_id)` is queued after commit to
    message the customer. Ready again: the stored answer, nothing sent. `store_ids`: the key's stores (None: any)."""
    now = now or timezone.now()
    store = Store.objects.filter(code=store_code).first()
    if store is None:
        raise ApplicationError("unknown_store", f"没有编码为 {store_code} 的门店。", status_code=404)
    if store_ids is not None and store.pk not in store_ids:
        raise ApplicationError("store_not_allowed", "这个密钥不能操作该门店。", status_code=403)
    found = _pickup_find(channel=channel, external_id=external_id, code=code)
    with transaction.atomic():
        pickup = (
            Pickup.objects.select_for_update(no_key=True, of=("self",))
            .select_related("store", "customer", "order", "associate")
            .get(pk=found.pk)
        )
        if pickup.store_id != store.pk:
            raise ApplicationError(
                "wrong_store", f"这个自提订单在 {pickup.store.name}（{pickup.store.code}）取货。", status_code=409
            )
        if pickup.status == S.READY:
            return PickupReady(pickup=pickup, replayed=True)
        if pickup.status == S.COLLECTED:
            raise ApplicationError("already_collected", "这个自提订单已经取货。", status_code=409)
        if pickup.status != S.PENDING:
            raise ApplicationError(
                "pickup_closed", f"这个自提订单已{pickup.get_status_display()}，不能再备货。", status_code=409
            )
        pickup.status, pickup.ready_at = S.READY, now
        pickup.expires_at = now + timedelta(hours=store.hold_hours)
        pickup.save(update_fields=["status", "ready_at", "expires_at", "updated_at"])
        _ready_task_and_notice(pickup)
        transaction.on_commit(lambda: send_later(pickup.pk))
    return PickupReady(pickup=pickup, replayed=False)


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%m月%d日 %H:%M")


def _own_associate(pickup: Pickup) -> Associate | None:
    """The pickup's associate while she works here; else None (her store's manager is told instead)."""
    return pickup.associate if pickup.associate is not None and pickup.associate.is_active else None


def _ready_task_and_notice(pickup: Pickup) -> FollowUpTask | None:
    own = _own_associate(pickup)
    associate = own or _store_manager(pickup.store_id)
    if associate is None:
        logger.warning("bopis pickup %s ready at store %s with nobody to tell", pickup.pk, pickup.store_id)
        return None
    name = pickup.customer.name or "客户"
    title = f"自提订单已到店：通知{name}凭取货码 {pickup.code} 于 {_when(pickup.expires_at)} 前来取货"
    if own is None:
        title = f"自提订单已到店（客户在本店没有在岗的导购好友）：电话通知{name}，取货码 {pickup.code}"
    task, _ = FollowUpTask.objects.get_or_create(
        associate=associate,
        customer=pickup.customer,
        occasion=bopis_task_occasion(pickup.pk),
        defaults={
            "title": title[:200],
            "due_on": timezone.localdate(pickup.ready_at),
            "action": FollowUpTask.Action.ANY_MESSAGE,
        },
    )
    order = pickup.order
    notice_send(
        associate=associate,
        kind=Notice.Kind.TASK_DUE,
        dedupe_key=f"pickup_ready:{pickup.pk}",
        title=f"自提订单待取货：{name}",
        description=(
            f"{order.get_channel_display()}订单 {order.external_id} 已在{pickup.store.name}备好，"
            f"取货码 {pickup.code}，保留至 {_when(pickup.expires_at)}。"
        ),
        url=reverse("workbench-task", args=[task.pk]),
    )
    return task


def _tasks_close(*, pickup_ids: list[int], note: str, now: datetime) -> None:
    if pickup_ids:
        FollowUpTask.objects.filter(
            occasion__in=[bopis_task_occasion(pk) for pk in pickup_ids], done_at__isnull=True
        ).update(done_at=now, closed_note=note[:200])


# The customer's messages ---------------------------------------------------------------------------------

READY, REMINDER = "ready", "reminder"
_CLAIM_FIELD = {READY: "ready_notified_at", REMINDER: "reminded_at"}


def bopis_message_text(*, pickup: Pickup, purpose: str) -> str:
    store, order = pickup.store, pickup.order
    name = pickup.customer.name or ""
    if purpose == READY:
        head = (
            f"{name}您好，您在{order.get_channel_display()}下单的订单 {order.external_id} "
            f"已在{store.name}备好，可以来取啦。"
        )
    else:
        head = (
            f"{name}您好，提醒您：订单 {order.external_id} 还在{store.name}等您，"
            f"{_when(pickup.expires_at)} 后将不再保留。"
        )
    lines = [head, f"取货码：{pickup.code}", f"门店：{store.name}"]
    if store.address:
        lines.append(f"地址：{store.address}")
    if store.opening_hours:
        lines.append(f"营业时间：{store.opening_hours}")
    lines.append(f"请于 {_when(pickup.expires_at)} 前到店出示取货码取货。")
    return "\n".join(lines)


def bopis_customer_message_send(*, pickup_id: int, purpose: str) -> str:
    """Send the customer the ready message or the reminder once, from her associate at the store (WeCom's
    add_msg_template, single: the associate confirms it in WeCom). Claimed first by a guarded UPDATE; released only
    when WeCom was busy (the WeComError is raised for the task to retry). Returns sent | already | no_contact |
    not_a_contact | failed."""
    field = _CLAIM_FIELD[purpose]
    claimed_at = timezone.now()
    claimed = Pickup.objects.filter(pk=pickup_id, status=S.READY, **{f"{field}__isnull": True}).update(
        **{field: claimed_at}
    )
    if not claimed:
        return "already"
    pickup = Pickup.objects.select_related("store", "customer", "order", "associate").get(pk=pickup_id)
    follow = None
    if pickup.associate is not None:
        follow = (
            FollowRelation.objects.filter(
                associate=pickup.associate, customer_id=pickup.customer_id, ended_at__isnull=True
            )
            .order_by("-followed_at")
            .first()
        )
    if follow is None:
        logger.info("bopis pickup %s: no associate friend to message the customer (%s)", pickup_id, purpose)
        return "no_contact"
    body = {
        "chat_type": "single",
        "sender": pickup.associate.wecom_userid,
        "external_userid": [follow.external_userid],
        "text": {"content": bopis_message_text(pickup=pickup, purpose=purpose)},
    }
    try:
        answer = wecom_client().post("externalcontact/add_msg_template", data=body)
    except WeComError as error:
        if error.transient:
            Pickup.objects.filter(pk=pickup_id, **{field: claimed_at}).update(**{field: None})
            raise
        logger.warning("bopis pickup %s: %s message refused by WeCom: %s", pickup_id, purpose, error)
        return "failed"
    if follow.external_userid in (answer.get("fail_list") or []):
        return "not_a_contact"
    return "sent"


# The beat: reminders, expiry, the intake sweep -------------------------------------------------------------


def bopis_remind(*, now: datetime | None = None, send_later: Callable[[int], None]) -> list[int]:
    """Queue the reminder of each ready pickup whose end is near (REMIND_BEFORE, or half its hold when the hold is
    shorter); returns the pickups' ids. Safe twice: the send claims `reminded_at IS NULL`."""
    now = now or timezone.now()
    due = Pickup.objects.filter(
        kind=Pickup.Kind.ORDER,
        status=S.READY,
        reminded_at__isnull=True,
        expires_at__gt=now,
        expires_at__lte=now + REMIND_BEFORE,
    ).values_list("pk", "ready_at", "expires_at")
    ids = []
    for pickup_id, ready_at, expires_at in due:
        lead = min(REMIND_BEFORE, (expires_at - (ready_at or expires_at)) / 2)
        if now >= expires_at - lead:
            ids.append(pickup_id)
    for pickup_id in ids:
        send_later(pickup_id)
    return ids


def bopis_expire(*, now: datetime | None = None) -> list[int]:
    """Expire the ready pickups past their hold; the associate (else the store's manager) is told and her task
    closed. Guarded by the status: a pickup collected meanwhile stays collected, a second run changes nothing."""
    now = now or timezone.now()
    due = Pickup.objects.filter(kind=Pickup.Kind.ORDER, status=S.READY, expires_at__lte=now)
    expired = []
    for pickup_id in due.values_list("pk", flat=True).order_by("expires_at", "pk"):
        with transaction.atomic():
            if not Pickup.objects.filter(pk=pickup_id, status=S.READY, expires_at__lte=now).update(
                status=S.EXPIRED, closed_at=now, close_reason="超过保留时间未取货", updated_at=now
            ):
                continue
            pickup = Pickup.objects.select_related("store", "customer", "order", "associate").get(pk=pickup_id)
            associate = _own_associate(pickup) or _store_manager(pickup.store_id)
            if associate is not None:
                notice_send(
                    associate=associate,
                    kind=Notice.Kind.TASK_DUE,
                    dedupe_key=f"pickup_expired:{pickup.pk}",
                    title=f"自提订单已过期：{pickup.customer.name or '客户'}",
                    description=(
                        f"订单 {pickup.order.external_id}（取货码 {pickup.code}）保留到 {_when(pickup.expires_at)}，"
                        "客户未来取货，请按门店流程退回库存。"
                    ),
                    url=reverse("workbench-customer", args=[pickup.customer_id]),
                )
            _tasks_close(pickup_ids=[pickup.pk], note="自提订单已过期", now=now)
        expired.append(pickup_id)
    return expired


def bopis_tick(*, now: datetime | None = None, send_later: Callable[[int], None]) -> dict[str, int]:
    """The beat's run: orders no hook took in, reminders, expiry."""
    now = now or timezone.now()
    taken_in = bopis_orders_take_in(since=now - timedelta(days=SWEEP_DAYS), now=now)
    reminded = bopis_remind(now=now, send_later=send_later)
    expired = bopis_expire(now=now)
    return {"taken_in": len(taken_in), "reminded": len(reminded), "expired": len(expired)}
