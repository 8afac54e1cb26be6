"""Returns anywhere: an order from any channel taken back at any store's till, recorded against the original order.

A return is an Order of its own (the till's channel, the store that took it back, `external_id` = the till's request
number) whose lines are negative and point at the original's lines (`OrderLine.original_line`); the original is
never changed. So the purchase history shows the sale and its return, a customer's spend nets them, and
attribution credits the return's negative amount to whoever was credited with the sale (insights.attribution).

What is left to return of a line is its quantity plus its returns' (negative) quantities; the original order's row
is locked while a return is checked and written, so two tills returning the last unit take turns and the second is
refused (`over_return`). A request number answers once: its replay returns the recorded return and writes nothing;
the same number with other content is `request_no_reused`.

Features above this app act on a return through `order_return_hook` (coupons restore the coupons used on the
returned lines), inside the return's transaction, only when the return is first recorded.
"""

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import ROUND_DOWN, Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from associates.models import Store
from customers.ingestion import Scope
from customers.models import Channel, Order, OrderLine
from customers.selectors import customer_record_ids
from omni.errors import ApplicationError

CENT = Decimal("0.01")
# Orders that can no longer be returned: reversed whole already.
NOT_RETURNABLE = (Order.Status.CANCELLED, Order.Status.RETURNED)


@dataclasses.dataclass(frozen=True)
class ReturnLineIn:
    line_no: int
    quantity: int


@dataclasses.dataclass(frozen=True)
class ReturnIn:
    """What the till says: which order (its channel and number), which of its lines and how many, the refund."""

    request_no: str
    order_channel: str
    order_no: str
    store: Store
    refund_amount: Decimal
    lines: tuple[ReturnLineIn, ...]


@dataclasses.dataclass(frozen=True)
class ReturnRecorded:
    order: Order  # the return, with `original` and its lines
    created: bool


@dataclasses.dataclass(frozen=True)
class ReturnedLine:
    """One returned line as the hooks see it: the original line and how many of it this return takes back."""

    original: OrderLine
    quantity: int
    left_after: int  # still returnable after this return


ReturnHook = Callable[..., None]
_HOOKS: list[ReturnHook] = []


def order_return_hook(hook: ReturnHook) -> ReturnHook:
    """Register `hook(order_return=…, original=…, lines=[ReturnedLine])`, called once per return as it is recorded,
    in its transaction (an app above customers registers it from its AppConfig.ready())."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


@dataclasses.dataclass(frozen=True)
class LineLeft:
    line: OrderLine
    quantity: int  # still returnable
    amount: Decimal  # still refundable


def order_lines_left(*, order: Order) -> list[LineLeft]:
    """Each line of `order` with what is left to return of it (quantity and amount), in line order."""
    taken = {
        row["original_line_id"]: row
        for row in OrderLine.objects.filter(original_line__order=order)
        .values("original_line_id")
        .annotate(units=Sum("quantity"), refunded=Sum(F("quantity") * F("unit_price") - F("discount")))
        .order_by()
    }
    left = []
    for line in order.lines.select_related("product").order_by("line_no"):
        returned = taken.get(line.pk, {"units": 0, "refunded": Decimal("0")})
        quantity = max(line.quantity + returned["units"], 0)
        amount = (
            max(line.amount + (returned["refunded"] or Decimal("0")), Decimal("0.00")) if quantity else Decimal("0")
        )
        left.append(LineLeft(line=line, quantity=quantity, amount=amount.quantize(CENT)))
    return left


def _refund_due(left: LineLeft, quantity: int) -> Decimal:
    """The line's refund for `quantity` units by default: its price net of its discount, pro rata; the last units
    take what is left, so a line returned in parts refunds exactly its amount."""
    if quantity == left.quantity:
        return left.amount
    return min((left.line.amount * quantity / left.line.quantity).quantize(CENT, rounding=ROUND_DOWN), left.amount)


def _allocate(total: Decimal, dues: list[Decimal]) -> list[Decimal]:
    """`total` (at most the sum of `dues`) spread over the lines in proportion to their dues; the last takes the
    rounding remainder."""
    whole = sum(dues, Decimal("0"))
    if total == whole:
        return dues
    shares = [(total * due / whole).quantize(CENT, rounding=ROUND_DOWN) if whole else Decimal("0.00") for due in dues]
    shares[-1] = total - sum(shares[:-1], Decimal("0"))
    return shares


def _same_content(recorded: Order, request: ReturnIn) -> bool:
    if recorded.original is None:  # a sale under the same number
        return False
    lines = {line.original_line.line_no: -line.quantity for line in recorded.lines.select_related("original_line")}
    return (
        recorded.original.channel == request.order_channel
        and recorded.original.external_id == request.order_no
        and recorded.store_id == request.store.pk
        and -recorded.total_amount == request.refund_amount
        and lines == {line.line_no: line.quantity for line in request.lines}
    )


def _replayed(scope: Scope, request: ReturnIn) -> ReturnRecorded | None:
    recorded = (
        Order.objects.select_related("original").filter(channel=scope.channel, external_id=request.request_no).first()
    )
    if recorded is None:
        return None
    if not _same_content(recorded, request):
        raise ApplicationError("request_no_reused", "这个请求号已用于另一笔退货或订单，内容不同。", status_code=409)
    return ReturnRecorded(order=recorded, created=False)


def _check(scope: Scope, request: ReturnIn) -> None:
    if scope.channel != Channel.STORE_POS:
        raise ApplicationError("channel_not_allowed", "门店退货只能由门店 POS 的接口密钥登记。", status_code=403)
    if scope.store_ids is not None and request.store.pk not in scope.store_ids:
        raise ApplicationError(
            "store_not_allowed", f"这个接口密钥不能为门店 {request.store.code} 登记退货。", status_code=403
        )
    if not request.lines:
        raise ApplicationError("lines_required", "请传入退货明细 lines。")
    seen = set()
    for position, line in enumerate(request.lines):
        if line.line_no in seen:
            raise ApplicationError(
                "duplicate_line", f"第 {line.line_no} 行重复出现。", details={"field": f"lines[{position}].line_no"}
            )
        seen.add(line.line_no)
        if line.quantity < 1:
            raise ApplicationError(
                "invalid_quantity", "退货数量至少为 1。", details={"field": f"lines[{position}].quantity"}
            )
    if request.refund_amount < 0:
        raise ApplicationError("invalid_refund", "退款金额不能为负。", details={"field": "refund_amount"})


def order_return_record(*, scope: Scope, request: ReturnIn, now: dt.datetime | None = None) -> ReturnRecorded:
    """Record a return taken back at `request.store` against the original order, once per request number."""
    _check(scope, request)
    replay = _replayed(scope, request)
    if replay is not None:
        return replay
    try:
        with transaction.atomic():
            return _record(scope, request, now or timezone.now())
    except IntegrityError:
        # The same request number was recorded meanwhile (for another order, so the lock did not serialize us).
        replay = _replayed(scope, request)
        if replay is None:
            raise
        return replay


def _record(scope: Scope, request: ReturnIn, now: dt.datetime) -> ReturnRecorded:
    original = (
        Order.objects.select_for_update(no_key=True)
        .filter(channel=request.order_channel, external_id=request.order_no)
        .first()
    )
    if original is None:
        raise ApplicationError("unknown_order", "没有找到这笔原订单。", status_code=404)
    # Under the original's lock: a concurrent replay of this request has committed by now, or has not started.
    replay = _replayed(scope, request)
    if replay is not None:
        return replay
    if original.original_id is not None:
        raise ApplicationError("not_returnable", "这是一笔退货单，不能再退。", status_code=409)
    if original.status in NOT_RETURNABLE:
        raise ApplicationError(
            "not_returnable", f"这笔订单{original.get_status_display()}，不能再退。", status_code=409
        )
    left = {item.line.line_no: item for item in order_lines_left(order=original)}
    dues = []
    for position, line in enumerate(request.lines):
        item = left.get(line.line_no)
        if item is None:
            raise ApplicationError(
                "unknown_line",
                f"原订单没有第 {line.line_no} 行。",
                details={"field": f"lines[{position}].line_no"},
            )
        if line.quantity > item.quantity:
            raise ApplicationError(
                "over_return",
                f"第 {line.line_no} 行（{item.line.product.name}）还可退 {item.quantity} 件，"
                f"本次退 {line.quantity} 件。",
                details={"field": f"lines[{position}].quantity", "returnable": item.quantity},
                status_code=409,
            )
        dues.append(_refund_due(item, line.quantity))
    most = sum(dues, Decimal("0.00"))
    if request.refund_amount > most:
        raise ApplicationError(
            "refund_too_large",
            f"所退商品最多可退 {most} 元，本次退款 {request.refund_amount} 元。",
            details={"field": "refund_amount", "refundable": str(most)},
        )
    refunds = _allocate(request.refund_amount, dues)
    order_return = Order.objects.create(
        channel=scope.channel,
        external_id=request.request_no,
        store=request.store,
        customer_id=original.customer_id,
        placed_at=now,
        status=Order.Status.COMPLETED,
        fulfilment=Order.Fulfilment.IN_STORE,
        currency=original.currency,
        total_amount=-request.refund_amount,
        original=original,
    )
    lines, returned = [], []
    for number, (line, refund) in enumerate(zip(request.lines, refunds, strict=True), start=1):
        item = left[line.line_no]
        # quantity × unit price − discount = −refund: the discount given back is the line's price less the refund.
        lines.append(
            OrderLine(
                order=order_return,
                line_no=number,
                product=item.line.product,
                quantity=-line.quantity,
                unit_price=item.line.unit_price,
                discount=refund - line.quantity * item.line.unit_price,
                original_line=item.line,
            )
        )
        returned.append(
            ReturnedLine(original=item.line, quantity=line.quantity, left_after=item.quantity - line.quantity)
        )
    OrderLine.objects.bulk_create(lines)
    for hook in _HOOKS:
        hook(order_return=order_return, original=original, lines=returned)
    return ReturnRecorded(order=order_return, created=True)


def orders_find(
    *, order_no: str = "", channel: str = "", customer_id: int | None = None, limit: int = 20
) -> Sequence[Order]:
    """Sales a till or an associate may take back, newest first: by order number (in any channel unless `channel` is
    given), of one customer (all her records), or both; returns themselves are not listed."""
    if not order_no and customer_id is None:
        return []
    orders = Order.objects.filter(original__isnull=True).select_related("store").order_by("-placed_at", "-pk")
    if order_no:
        orders = orders.filter(external_id=order_no)
        if channel:
            orders = orders.filter(channel=channel)
    if customer_id is not None:
        orders = orders.filter(customer_id__in=customer_record_ids(customer_id=customer_id))
    return list(orders[:limit])
