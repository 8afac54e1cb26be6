"""Holds: an associate reserves units of a size/colour at a store for a customer, until they collect it or it ends.

Stock policy (one home for it, tests/test_holds*.py name it):
- Available = `StoreStock.quantity − StoreStock.held`. A hold reserves its units in ONE statement,
  `UPDATE customers_storestock SET held = held + q WHERE store = s AND product = p AND quantity − held >= q`:
  PostgreSQL re-checks the condition on the row's newest version under its row lock, so concurrent holds of the last
  units never oversell (64 threads, 3 units → exactly 3 holds).
- A hold is released (held decremented) exactly once: every ending (cancel, refuse, expiry, collect) is a guarded
  status transition `UPDATE fulfilment_pickup SET status = … WHERE pk = … AND status IN (open)`, and only the
  statement that changed the row releases its units, in the same transaction.
- Stock updates from the brand's systems write `quantity` only (customers.ingestion.stock_upsert), so holds survive
  them; held may then exceed quantity, and available is shown as 0, never below.
- Expiry (`holds_expire`, the beat's task every few minutes) locks the due open holds with SKIP LOCKED: a hold a till is
  collecting at that moment is skipped, and whichever transition commits first wins; the other sees the new status.
Stock rows are always updated in (store, product) order, so two releases never wait on each other in a cycle. A
release never takes held below zero (a row edited by hand must not turn the till's scan into an error).
"""

import dataclasses
import datetime as dt
import logging
import secrets
from collections import defaultdict

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import timezone

from associates.models import Associate, Store
from customers.catalogue import catalogue_store_get, nearby_stores
from customers.models import Customer, Product, StoreStock
from fulfilment.models import Pickup, PickupEvent, PickupLine
from notices.models import Notice
from notices.notify import notice_send
from omni.errors import ApplicationError

logger = logging.getLogger(__name__)

MAX_HOLD_UNITS = 5
MAX_HOLD_HOURS = 7 * 24
# Short enough to read out and type at a till, no 0/O, 1/I: 32⁸ ≈ 10¹² codes.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
EXPIRE_BATCH = 500


def pickup_code_new() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def pickup_token_new() -> str:
    return secrets.token_urlsafe(18)  # 24 characters


# ---------------------------------------------------------------------------------------------------------------
# Stock by store


@dataclasses.dataclass(frozen=True)
class VariantStock:
    sku: str
    size: str
    colour: str
    quantity: int
    held: int

    @property
    def available(self) -> int:
        return max(0, self.quantity - self.held)


@dataclasses.dataclass(frozen=True)
class StoreAvailability:
    store: Store
    distance_km: float | None
    is_own: bool
    variants: list[VariantStock]

    @property
    def available(self) -> int:
        return sum(v.available for v in self.variants)


@dataclasses.dataclass(frozen=True)
class StyleAvailability:
    product: Product
    variants: list[Product]
    stores: list[StoreAvailability]


def style_availability(*, sku: str, store: Store) -> StyleAvailability:
    """The sizes and colours of `sku`'s style with the units available (quantity − held) at each store: `store` (the
    associate's) first, then the other open stores that have any, nearest first (by coordinates, then the same city,
    then the rest by code). Raises `unknown_sku` (404)."""
    product = Product.objects.filter(sku=sku, is_active=True).first()
    if product is None:
        raise ApplicationError("unknown_sku", f"没有在售的商品 {sku}。", details={"sku": sku}, status_code=404)
    if product.style_code:
        variants = list(Product.objects.filter(style_code=product.style_code, is_active=True).order_by("sku"))
    else:
        variants = [product]
    rows = StoreStock.objects.filter(product__in=variants, store__is_active=True).values_list(
        "store_id", "product_id", "quantity", "held"
    )
    by_store: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
    for store_id, product_id, quantity, held in rows:
        by_store[store_id][product_id] = (quantity, held)
    having = {pk for pk, units in by_store.items() if any(q - h > 0 for q, h in units.values())}
    order = [(store.pk, None)]
    nearest = nearby_stores(store=store, limit=max(len(having), 1) + 50)
    order += [(s.pk, s.distance_km) for s in nearest if s.pk in having]
    placed = {pk for pk, _ in order}
    stores = {s.pk: s for s in Store.objects.filter(pk__in=having | {store.pk})}
    order += [(pk, None) for pk in sorted(having - placed, key=lambda pk: stores[pk].code)]
    result = []
    for store_id, distance in order:
        units = by_store.get(store_id, {})
        result.append(
            StoreAvailability(
                store=stores[store_id],
                distance_km=distance,
                is_own=store_id == store.pk,
                variants=[VariantStock(v.sku, v.size, v.colour, *units.get(v.pk, (0, 0))) for v in variants],
            )
        )
    return StyleAvailability(product=product, variants=variants, stores=result)


# ---------------------------------------------------------------------------------------------------------------
# Placing a hold


@dataclasses.dataclass(frozen=True)
class HoldPlaced:
    pickup: Pickup
    created: bool


def _replayed(*, request_id: str, associate: Associate, customer_id: int) -> Pickup | None:
    pickup = Pickup.objects.filter(kind=Pickup.Kind.HOLD, request_id=request_id).first()
    if pickup is not None and (pickup.associate_id != associate.pk or pickup.customer_id != customer_id):
        raise ApplicationError(
            "request_id_reused", "这个请求号已用于另一次预留。", details={"request_id": request_id}, status_code=409
        )
    return pickup


def _pickup_insert(**fields) -> Pickup:
    """The pickup with a fresh code (a savepoint per try: a code already taken is drawn again)."""
    for _ in range(5):
        try:
            with transaction.atomic():
                return Pickup.objects.create(code=pickup_code_new(), token=pickup_token_new(), **fields)
        except IntegrityError:
            if Pickup.objects.filter(kind=fields["kind"], request_id=fields["request_id"]).exists():
                raise
    raise RuntimeError("no free pickup code after 5 draws")


def hold_place(
    *,
    associate: Associate,
    customer: Customer,
    sku: str,
    store_code: str = "",
    quantity: int = 1,
    hours: int | None = None,
    request_id: str,
) -> HoldPlaced:
    """Hold `quantity` units of `sku` at the store `store_code` names (default: the associate's own) for `customer`,
    for `hours` (default: the store's `hold_hours`, at most 7 days). Idempotent by `request_id`: a replay returns the
    hold it made. The units are reserved in one conditional statement (see the module's docstring). The holding
    store's associates are told when someone of another store holds there.

    Raises ApplicationError: `unknown_store` (400), `unknown_sku` (404), `invalid_quantity`, `hold_hours_out_of_range`
    (400), `sold_out` (409: fewer units available than asked), `request_id_reused` (409)."""
    replay = _replayed(request_id=request_id, associate=associate, customer_id=customer.pk)
    if replay is not None:
        return HoldPlaced(pickup=replay, created=False)
    if not 1 <= quantity <= MAX_HOLD_UNITS:
        raise ApplicationError(
            "invalid_quantity", f"每次可预留 1 到 {MAX_HOLD_UNITS} 件。", details={"quantity": quantity}
        )
    store = catalogue_store_get(code=store_code, default=associate.store)
    hours = store.hold_hours if hours is None else hours
    if not 1 <= hours <= MAX_HOLD_HOURS:
        raise ApplicationError(
            "hold_hours_out_of_range", f"预留时长应在 1 到 {MAX_HOLD_HOURS} 小时之间。", details={"hours": hours}
        )
    product = Product.objects.filter(sku=sku, is_active=True).first()
    if product is None:
        raise ApplicationError("unknown_sku", f"没有在售的商品 {sku}。", details={"sku": sku}, status_code=404)
    now = timezone.now()
    try:
        with transaction.atomic():
            reserved = StoreStock.objects.filter(
                store_id=store.pk, product_id=product.pk, quantity__gte=F("held") + quantity
            ).update(held=F("held") + quantity)
            if not reserved:
                raise ApplicationError(
                    "sold_out",
                    f"{store.name}的 {product.name} 可预留库存不足 {quantity} 件。",
                    details={"store": store.code, "sku": sku, "available": _available(store=store, product=product)},
                    status_code=409,
                )
            pickup = _pickup_insert(
                kind=Pickup.Kind.HOLD,
                status=Pickup.Status.HELD,
                store=store,
                customer=customer,
                associate=associate,
                request_id=request_id,
                expires_at=now + dt.timedelta(hours=hours),
            )
            PickupLine.objects.create(pickup=pickup, product=product, quantity=quantity)
            PickupEvent.objects.create(pickup=pickup, kind=PickupEvent.Kind.PLACED, associate=associate)
            if store.pk != associate.store_id:
                _tell_store(pickup=pickup, product=product, quantity=quantity, holder=associate)
    except IntegrityError:
        # The same request id placed concurrently: that one won, and this one's reservation was rolled back.
        replay = _replayed(request_id=request_id, associate=associate, customer_id=customer.pk)
        if replay is None:
            raise
        return HoldPlaced(pickup=replay, created=False)
    return HoldPlaced(pickup=pickup, created=True)


def _available(*, store: Store, product: Product) -> int:
    row = StoreStock.objects.filter(store=store, product=product).values_list("quantity", "held").first()
    return max(0, row[0] - row[1]) if row else 0


def _tell_store(*, pickup: Pickup, product: Product, quantity: int, holder: Associate) -> None:
    local = timezone.localtime(pickup.expires_at)
    for associate in Associate.objects.filter(store_id=pickup.store_id, is_active=True):
        notice_send(
            associate=associate,
            kind=Notice.Kind.HOLD,
            dedupe_key=f"hold_placed:{pickup.pk}:{associate.pk}",
            title=f"新预留：{product.name}"[:40],
            description=(
                f"{holder.store.name}的{holder.name}为客户预留了 {product.name}"
                f"{'（' + product.size + '）' if product.size else ''} × {quantity}，"
                f"保留至 {local:%m-%d %H:%M}，取货码 {pickup.code}。请留出商品。"
            )[:170],
            url=reverse("workbench"),
        )


# ---------------------------------------------------------------------------------------------------------------
# Ending a hold


def _release(*, pickup_ids: list[int]) -> None:
    """Give back the units of these holds (just closed by a guarded transition), in (store, product) order."""
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for store_id, product_id, quantity in PickupLine.objects.filter(
        pickup_id__in=pickup_ids, pickup__kind=Pickup.Kind.HOLD
    ).values_list("pickup__store_id", "product_id", "quantity"):
        totals[(store_id, product_id)] += quantity
    for (store_id, product_id), quantity in sorted(totals.items()):
        StoreStock.objects.filter(store_id=store_id, product_id=product_id).update(
            held=Greatest(F("held") - quantity, 0)
        )


def pickup_transition(
    *, pickup: Pickup, to: str, reason: str = "", from_statuses=Pickup.OPEN, now: dt.datetime | None = None
) -> bool:
    """Close `pickup` (→ `to`) if it is still in `from_statuses`, releasing a hold's units; True when this call did
    it, False when another transition got there first (the caller reads the status it found). Call inside a
    transaction."""
    now = now or timezone.now()
    changed = Pickup.objects.filter(pk=pickup.pk, status__in=from_statuses).update(
        status=to, closed_at=now, close_reason=reason[:200], updated_at=now
    )
    if changed:
        _release(pickup_ids=[pickup.pk])
        pickup.status, pickup.closed_at, pickup.close_reason = to, now, reason[:200]
    else:
        pickup.refresh_from_db()
    return bool(changed)


def pickup_closed_error(pickup: Pickup) -> ApplicationError:
    return ApplicationError(
        f"pickup_{pickup.status}",
        f"取货码 {pickup.code} 已{pickup.get_status_display()}。",
        details={"code": pickup.code, "status": pickup.status},
        status_code=409,
    )


def hold_cancel(*, pickup_id: int, associate: Associate) -> Pickup:
    """Cancel an open hold and release its units: by the associate who placed it, or a manager of its store.
    A hold already ended answers its status (`pickup_expired`, `pickup_collected`, …; a second cancel is the same
    hold, cancelled). Raises `not_found` (404) for a hold this associate may not cancel."""
    pickup = Pickup.objects.filter(pk=pickup_id, kind=Pickup.Kind.HOLD).first()
    if pickup is None or not (pickup.associate_id == associate.pk or associate.manages(pickup.store_id)):
        raise ApplicationError("not_found", "没有这个预留。", status_code=404)
    with transaction.atomic():
        if pickup_transition(pickup=pickup, to=Pickup.Status.CANCELLED, reason=f"{associate.name}取消"):
            PickupEvent.objects.create(pickup=pickup, kind=PickupEvent.Kind.CANCELLED, associate=associate)
            return pickup
    if pickup.status == Pickup.Status.CANCELLED:
        return pickup
    raise pickup_closed_error(pickup)


def holds_expire(*, now: dt.datetime | None = None, batch: int = EXPIRE_BATCH) -> int:
    """Expire the open holds whose time has passed and release their units, `batch` at a time; returns how many.
    Safe to run twice or concurrently: the due holds are locked with SKIP LOCKED (one a till is collecting right now
    is left to it), and each is moved only from an open status."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            due = list(
                Pickup.objects.select_for_update(skip_locked=True, no_key=True)
                .filter(kind=Pickup.Kind.HOLD, status__in=Pickup.OPEN, expires_at__lte=now)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not due:
                return expired
            changed = Pickup.objects.filter(pk__in=due, status__in=Pickup.OPEN).update(
                status=Pickup.Status.EXPIRED, closed_at=now, close_reason="超过保留时间", updated_at=now
            )
            _release(pickup_ids=due)
            PickupEvent.objects.bulk_create(
                [PickupEvent(pickup_id=pk, kind=PickupEvent.Kind.EXPIRED, note="过期释放") for pk in due]
            )
            logger.info("holds expired", extra={"holds": len(due), "pickup_ids": due[:20]})
            expired += changed
        if len(due) < batch:
            return expired
