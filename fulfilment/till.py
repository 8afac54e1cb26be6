"""The brand's systems and pickups: the POS or OMS lists a store's open holds and pickups, confirms or refuses them, and
the till scans a pickup code (`pickup_collect`) — which closes a hold or a BOPIS order, records the sale at the
holding store and, with a coupon code, redeems it on that sale through the till's own redeem.

A collect and the expiry beat both close a pickup with a guarded status transition (`holds.pickup_transition`,
`holds.holds_expire`): whichever commits first wins, the other finds the status it left and says so (the loser is
logged, and a collect that lost leaves a `collect_lost` event). A collect is idempotent by its `request_id`.
"""

import dataclasses
import datetime as dt
import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Prefetch
from django.db.models.functions import Greatest
from django.utils import timezone

from associates.models import Store
from coupons.models import Channels
from coupons.redemption import OrderIn, Redeemed
from coupons.till import coupon_redeem
from customers.models import ApiKey, Channel, Order, OrderLine, Product, StoreStock
from fulfilment.holds import pickup_closed_error, pickup_transition
from fulfilment.models import Pickup, PickupEvent, PickupLine
from notices.models import Notice
from notices.notify import notice_send
from omni.errors import ApplicationError

logger = logging.getLogger(__name__)

SALE_REF_PREFIX = "PU-"


def pickup_store_for_key(*, api_key: ApiKey, store_code: str) -> Store:
    """The store `store_code` names, if this key may act for it. Raises `store_required` (400), `unknown_store` (404),
    `store_not_allowed` (403)."""
    if not store_code:
        raise ApplicationError("store_required", "需要门店编码 store。", details={"store": ["必填。"]})
    store = Store.objects.filter(code=store_code).first()
    if store is None:
        raise ApplicationError("unknown_store", f"没有编码为 {store_code} 的门店。", status_code=404)
    _key_store_check(api_key=api_key, store_id=store.pk, store_code=store_code)
    return store


def _key_store_check(*, api_key: ApiKey, store_id: int, store_code: str) -> None:
    stores = api_key.stores.values_list("pk", flat=True)
    if stores.exists() and not stores.filter(pk=store_id).exists():
        raise ApplicationError("store_not_allowed", f"这个接口密钥不能用于门店 {store_code}。", status_code=403)


def _pickup_for_key(*, api_key: ApiKey, code: str) -> Pickup:
    pickup = Pickup.objects.select_related("store").filter(code=code.strip().upper()).first()
    if pickup is None:
        raise ApplicationError("unknown_code", f"没有取货码 {code}。", status_code=404)
    _key_store_check(api_key=api_key, store_id=pickup.store_id, store_code=pickup.store.code)
    return pickup


def pickups_open_list(*, api_key: ApiKey, store_code: str, kind: str = "") -> list[Pickup]:
    """The store's open holds and pickups (soonest to expire first), with their lines and products."""
    store = pickup_store_for_key(api_key=api_key, store_code=store_code)
    pickups = Pickup.objects.filter(store=store, status__in=Pickup.OPEN)
    if kind:
        pickups = pickups.filter(kind=kind)
    lines = Prefetch("lines", queryset=PickupLine.objects.select_related("product").order_by("pk"))
    return list(
        pickups.select_related("store", "customer", "associate", "order")
        .prefetch_related(lines)
        .order_by("expires_at", "pk")[:500]
    )


def pickup_confirm(*, api_key: ApiKey, code: str) -> Pickup:
    """The store has the items set aside: `confirmed_at` is set once (a second confirm answers the same). Raises
    `unknown_code` (404), `store_not_allowed` (403), `pickup_<status>` (409) for one already ended."""
    pickup = _pickup_for_key(api_key=api_key, code=code)
    now = timezone.now()
    with transaction.atomic():
        if Pickup.objects.filter(pk=pickup.pk, status__in=Pickup.OPEN, confirmed_at__isnull=True).update(
            confirmed_at=now, updated_at=now
        ):
            PickupEvent.objects.create(pickup=pickup, kind=PickupEvent.Kind.CONFIRMED, api_key=api_key)
    pickup.refresh_from_db()
    if pickup.status not in Pickup.OPEN:
        raise pickup_closed_error(pickup)
    return pickup


def pickup_refuse(*, api_key: ApiKey, code: str, reason: str = "") -> Pickup:
    """The store cannot keep it (damaged, sold at the till before the hold arrived): the pickup is refused, a hold's
    units released, and the associate who placed it told. A second refuse answers the same. Raises as
    `pickup_confirm`."""
    pickup = _pickup_for_key(api_key=api_key, code=code)
    with transaction.atomic():
        refused = pickup_transition(pickup=pickup, to=Pickup.Status.REFUSED, reason=reason or "门店拒绝")
        if refused:
            PickupEvent.objects.create(pickup=pickup, kind=PickupEvent.Kind.REFUSED, api_key=api_key, note=reason)
            if pickup.associate_id:
                notice_send(
                    associate=pickup.associate,
                    kind=Notice.Kind.HOLD,
                    dedupe_key=f"pickup_refused:{pickup.pk}",
                    title=f"门店无法预留：取货码 {pickup.code}",
                    description=(
                        f"{pickup.store.name}拒绝了为{pickup.customer.name or '客户'}的预留"
                        f"{'：' + reason if reason else ''}。请联系客户另选门店或尺码。"
                    )[:170],
                    url=f"/workbench/customers/{pickup.customer_id}/",
                )
    if pickup.status == Pickup.Status.REFUSED:
        return pickup
    raise pickup_closed_error(pickup)


# ---------------------------------------------------------------------------------------------------------------
# The till's scan


@dataclasses.dataclass(frozen=True)
class SaleLineIn:
    sku: str
    quantity: int
    unit_price: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class Collected:
    pickup: Pickup
    order: Order
    created: bool
    coupon: Redeemed | None = None


def _replay(*, request_id: str, code: str) -> Collected | None:
    event = (
        PickupEvent.objects.select_related("pickup__order", "pickup__store", "pickup__associate")
        .filter(kind=PickupEvent.Kind.COLLECTED, request_id=request_id)
        .first()
    )
    if event is None:
        return None
    if event.pickup.code != code:
        raise ApplicationError(
            "request_id_reused", "这个请求号已用于另一个取货码。", details={"request_id": request_id}, status_code=409
        )
    return Collected(pickup=event.pickup, order=event.pickup.order, created=False)


def _sale_lines(*, pickup: Pickup, lines: list[SaleLineIn] | None) -> list[tuple[Product, int, Decimal]]:
    if not lines:
        return [(line.product, line.quantity, line.product.price) for line in pickup.lines.select_related("product")]
    products = {p.sku: p for p in Product.objects.filter(sku__in=[line.sku for line in lines])}
    if missing := sorted({line.sku for line in lines} - set(products)):
        raise ApplicationError("unknown_sku", f"没有商品 {', '.join(missing)}。", details={"skus": missing})
    return [
        (products[line.sku], line.quantity, products[line.sku].price if line.unit_price is None else line.unit_price)
        for line in lines
    ]


def _sale_order(
    *, pickup: Pickup, store: Store, external_id: str, lines: list[SaleLineIn] | None, now: dt.datetime
) -> Order:
    """The order the collect is recorded as: a BOPIS pickup's own online order; else the POS order the till names
    (linked when it is already known), or a new store order of the hold's lines at the holding store."""
    if pickup.kind == Pickup.Kind.ORDER and pickup.order_id:
        return pickup.order
    external_id = external_id or f"{SALE_REF_PREFIX}{pickup.code}"
    existing = Order.objects.filter(channel=Channel.STORE_POS, external_id=external_id).first()
    if existing is not None:
        if existing.store_id not in (None, store.pk):
            raise ApplicationError(
                "order_wrong_store",
                f"订单 {external_id} 不是本店的订单。",
                details={"order": external_id},
                status_code=409,
            )
        if existing.customer_id is None:
            Order.objects.filter(pk=existing.pk).update(customer_id=pickup.customer_id, updated_at=now)
            existing.customer_id = pickup.customer_id
        return existing
    sale = _sale_lines(pickup=pickup, lines=lines)
    order = Order.objects.create(
        channel=Channel.STORE_POS,
        external_id=external_id,
        store=store,
        customer_id=pickup.customer_id,
        associate_id=pickup.associate_id,
        placed_at=now,
        status=Order.Status.COMPLETED,
        fulfilment=Order.Fulfilment.IN_STORE,
        total_amount=sum((price * quantity for _, quantity, price in sale), Decimal("0.00")),
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=order, line_no=n, product=product, quantity=quantity, unit_price=price)
        for n, (product, quantity, price) in enumerate(sale, start=1)
    )
    return order


def pickup_collect(
    *,
    api_key: ApiKey,
    store_code: str,
    code: str,
    request_id: str,
    order_external_id: str = "",
    lines: list[SaleLineIn] | None = None,
    coupon_code: str = "",
    now: dt.datetime | None = None,
) -> Collected:
    """The customer collects at the till: the pickup `code` at `store_code` is closed (held/pending/ready →
    collected), a hold's units leave the shelf (held and quantity decremented together), the sale is recorded as an
    order at the holding store (see `_sale_order`) credited to the pickup's associate (insights.attribution), and a
    coupon, if given, is redeemed on it. All or nothing; a replay of `request_id` returns the first collect.

    A hold past its time that the expiry beat has not yet released is still collected (its units are still
    reserved); once expired it is not. Raises ApplicationError: `unknown_code` (404), `unknown_store` (404),
    `store_not_allowed` (403), `wrong_store` (409: the pickup waits in another store), `pickup_expired`,
    `pickup_collected`, `pickup_cancelled`, `pickup_refused` (409), `request_id_reused` (409), `unknown_sku`,
    `order_wrong_store`, and the coupon's own refusals (then nothing is collected)."""
    code = code.strip().upper()
    replay = _replay(request_id=request_id, code=code)
    if replay is not None:
        return replay
    store = pickup_store_for_key(api_key=api_key, store_code=store_code)
    pickup = Pickup.objects.select_related("store", "associate", "customer").filter(code=code).first()
    if pickup is None:
        raise ApplicationError("unknown_code", f"没有取货码 {code}。", status_code=404)
    if pickup.store_id != store.pk:
        raise ApplicationError(
            "wrong_store",
            f"取货码 {code} 的商品在{pickup.store.name}，不在本店。",
            details={"code": code, "store": pickup.store.code},
            status_code=409,
        )
    now = now or timezone.now()
    try:
        with transaction.atomic():
            won = Pickup.objects.filter(pk=pickup.pk, status__in=Pickup.OPEN).update(
                status=Pickup.Status.COLLECTED, closed_at=now, close_reason="到店取货", updated_at=now
            )
            if won:
                collected = _collected(
                    pickup=pickup,
                    store=store,
                    api_key=api_key,
                    request_id=request_id,
                    order_external_id=order_external_id,
                    lines=lines,
                    coupon_code=coupon_code,
                    now=now,
                )
    except IntegrityError:
        replay = _replay(request_id=request_id, code=code)
        if replay is None:
            raise
        return replay
    if won:
        return collected
    # Another transition got there first (the expiry beat, a refuse, or a concurrent collect).
    replay = _replay(request_id=request_id, code=code)
    if replay is not None:
        return replay
    pickup.refresh_from_db()
    PickupEvent.objects.create(
        pickup=pickup,
        kind=PickupEvent.Kind.COLLECT_LOST,
        api_key=api_key,
        note=f"request {request_id[:40]}: already {pickup.status}",
    )
    logger.warning(
        "pickup collect lost",
        extra={"pickup_id": pickup.pk, "code": code, "status": pickup.status, "request_id": request_id},
    )
    raise pickup_closed_error(pickup)


def _collected(
    *,
    pickup: Pickup,
    store: Store,
    api_key: ApiKey,
    request_id: str,
    order_external_id: str,
    lines: list[SaleLineIn] | None,
    coupon_code: str,
    now: dt.datetime,
) -> Collected:
    if pickup.kind == Pickup.Kind.HOLD:
        held = sorted(pickup.lines.values_list("product_id", "quantity"))
        for product_id, quantity in held:
            StoreStock.objects.filter(store_id=pickup.store_id, product_id=product_id).update(
                held=Greatest(F("held") - quantity, 0), quantity=Greatest(F("quantity") - quantity, 0)
            )
    order = _sale_order(pickup=pickup, store=store, external_id=order_external_id, lines=lines, now=now)
    Pickup.objects.filter(pk=pickup.pk).update(order=order)
    pickup.status, pickup.closed_at, pickup.order = Pickup.Status.COLLECTED, now, order
    PickupEvent.objects.create(pickup=pickup, kind=PickupEvent.Kind.COLLECTED, request_id=request_id, api_key=api_key)
    coupon = None
    if coupon_code:
        coupon = coupon_redeem(
            code=coupon_code,
            order=OrderIn(channel=Channels.STORE, store=store, order_ref=order.external_id, amount=order.total_amount),
            request_no=request_id,
            api_key=api_key,
            now=now,
        )
    if pickup.associate_id:
        notice_send(
            associate=pickup.associate,
            kind=Notice.Kind.SALE,
            dedupe_key=f"pickup_collected:{pickup.pk}",
            title=f"{pickup.customer.name or '客户'}已到店取货",
            description=(
                f"取货码 {pickup.code} 已在{store.name}取货，成交 ¥{order.total_amount}，业绩归属于你和{store.name}。"
            )[:170],
            url=f"/workbench/customers/{pickup.customer_id}/",
        )
    logger.info("pickup collected", extra={"pickup_id": pickup.pk, "order_id": order.pk, "request_id": request_id})
    return Collected(pickup=pickup, order=order, created=True, coupon=coupon)
