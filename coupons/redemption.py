"""Using a coupon on an order: the rules (`coupon_quote`), the redemption ledger and its replays, returning a
redemption (`coupon_return`) and revoking an unused coupon (`coupon_revoke`).

Redeeming itself (`coupon_redeem`) is what every till waits on, so it runs hand-written statements and lives in
`coupons.till`; it asks these rules and writes this ledger. Validating and returning read the coupon through
the ORM (`coupon_by_code`), which is the reference the till's one-statement read is held to.
"""

import dataclasses
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from associates.models import Store
from coupons.models import Channels, Coupon, CouponOrder, CouponTemplate, Redemption, code_normalize, yuan
from coupons.refusals import conflict, request_no_clean, rule_broken
from customers.ingestion import Scope
from customers.models import ApiKey, Product
from omni.errors import ApplicationError
from omni.rawsql import CENT


@dataclasses.dataclass(frozen=True)
class OrderLineIn:
    sku: str
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class OrderIn:
    """What the till or the mall says about the order a coupon is used on."""

    channel: str  # Channels.STORE or Channels.ONLINE
    store: Store | None
    order_ref: str
    amount: Decimal
    lines: tuple[OrderLineIn, ...] = ()


@dataclasses.dataclass(frozen=True)
class Quote:
    coupon: Coupon
    discount: Decimal
    gift_sku: str


@dataclasses.dataclass(frozen=True)
class Credited:
    """Who a redemption credits, as read with its coupon: the sender's WeCom userid and store code."""

    associate_userid: str | None
    store_code: str | None


@dataclasses.dataclass(frozen=True)
class Redeemed:
    redemption: Redemption
    created: bool
    # Who the sale is credited to, when the redemption was just made from the till's read of the coupon; None: the
    # answer reads it back from the ledger (a replay, a return).
    credited: Credited | None = None


def _eligible_amount(template: CouponTemplate, order: OrderIn) -> Decimal:
    if template.scope == CouponTemplate.Scope.ALL:
        return order.amount
    if not order.lines:
        raise rule_broken("lines_required", "这张券只限部分商品使用，请传入订单明细 lines。")
    skus = {line.sku for line in order.lines}
    if template.scope == CouponTemplate.Scope.SKUS:
        in_scope = set(template.products.filter(sku__in=skus).values_list("sku", flat=True))
    else:
        in_scope = set(
            Product.objects.filter(sku__in=skus, category__in=template.categories).values_list("sku", flat=True)
        )
    return min(order.amount, sum((line.amount for line in order.lines if line.sku in in_scope), Decimal("0.00")))


def coupon_quote(*, coupon: Coupon, order: OrderIn, now: dt.datetime, store_allowed: bool | None = None) -> Quote:
    """What the coupon takes off this order, or the rule it breaks (stable codes; nothing is written).

    `store_allowed`: whether the coupon's template may be used at `order.store`, when the caller has read it
    already (the till's statement, `coupons.till.coupon_read`); None: read here from the template's stores."""
    template = coupon.template
    if coupon.status == Coupon.Status.REDEEMED:
        raise conflict("already_redeemed", "这张券已经使用过了。")
    if coupon.status == Coupon.Status.REVOKED:
        raise conflict("revoked", "这张券已作废。")
    if coupon.status == Coupon.Status.EXPIRED or now >= coupon.valid_until:
        raise rule_broken("expired", f"这张券已于 {timezone.localtime(coupon.valid_until):%Y-%m-%d %H:%M} 过期。")
    if now < coupon.valid_from:
        raise rule_broken("not_yet_valid", f"这张券 {timezone.localtime(coupon.valid_from):%Y-%m-%d %H:%M} 起可用。")
    local = timezone.localtime(now)
    if template.weekdays and local.isoweekday() not in template.weekdays:
        days = "、".join("一二三四五六日"[day - 1] for day in sorted(template.weekdays))
        raise rule_broken("not_valid_today", f"这张券仅限每周{days}使用。")
    if (template.day_starts and local.time() < template.day_starts) or (
        template.day_ends and local.time() >= template.day_ends
    ):
        raise rule_broken(
            "not_valid_now", f"这张券仅限每天 {template.day_starts or '00:00'}–{template.day_ends or '24:00'} 使用。"
        )
    if template.channels not in (Channels.BOTH, order.channel):
        raise rule_broken("wrong_channel", f"这张券只能在{template.get_channels_display()}使用。")
    if order.channel == Channels.STORE:
        if order.store is None:
            raise ApplicationError("store_required", "门店核销需要门店编码 store。")
        if not (store_allowed if store_allowed is not None else _store_allows(template, order.store)):
            raise rule_broken("wrong_store", f"这张券不能在{order.store.name}使用。")
    eligible = _eligible_amount(template, order)
    if eligible <= 0:
        raise rule_broken("not_applicable", "订单里没有这张券适用的商品。")
    if eligible < template.threshold:
        raise rule_broken(
            "below_threshold", f"适用商品满 {yuan(template.threshold)} 元才能使用，当前 {yuan(eligible)} 元。"
        )
    gift_sku = ""
    if template.kind == CouponTemplate.Kind.PERCENT_OFF:
        discount = (eligible * template.value / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        if template.max_discount is not None:
            discount = min(discount, template.max_discount)
    elif template.kind == CouponTemplate.Kind.GIFT:
        discount = Decimal("0.00")
        gift_sku = template.gift_product.sku if template.gift_product_id else ""
    else:
        discount = min(template.value, eligible)
    return Quote(coupon=coupon, discount=discount.quantize(CENT), gift_sku=gift_sku)


def _store_allows(template: CouponTemplate, store: Store) -> bool:
    """Whether a till of `store` may take this template's coupons (no stores set: every store)."""
    store_ids = {s.pk for s in template.stores.all()}
    return not store_ids or store.pk in store_ids


def coupon_by_code(*, code: str) -> Coupon:
    coupon = Coupon.objects.select_related("template").filter(code=code_normalize(code)).first()
    if coupon is None:
        raise ApplicationError("unknown_code", "没有这个券码。", status_code=404)
    return coupon


def redemption_replayed(
    *, request_no: str, coupon: Coupon, kind: str, api_key: ApiKey | None, known: bool | None = None
) -> Redeemed | None:
    """The earlier result of `request_no`, or None. `known` is what an earlier statement already found out.

    Request numbers are unique in the whole ledger (one index, read by the till's statement), but a result belongs
    to the key that made it: any other caller, or this one for another coupon or operation, gets 409
    `request_no_reused`, which says only that the number is taken — no order, amount or associate of the first."""
    if known is None:
        # A bare existence check first: on every till's path, and almost always empty.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {Redemption._meta.db_table} WHERE request_no = %s", [request_no])
            known = cursor.fetchone() is not None
    if not known:
        return None
    redemption = Redemption.objects.get(request_no=request_no)
    caller = api_key.pk if api_key is not None else None
    if redemption.api_key_id != caller or redemption.coupon_id != coupon.pk or redemption.kind != kind:
        raise conflict("request_no_reused", "这个请求号已用于另一次核销或退回。")
    return Redeemed(redemption=redemption, created=False)


def _key_owns(api_key: ApiKey | None, redemption: Redemption) -> bool:
    """Whether `api_key` may act on `redemption`: made at one of the key's stores (a key limited to stores), and
    through the key's own channel (a mall key never reverses the mini-program's). No key: Omni itself, trusted."""
    if api_key is None:
        return True
    store_ids = Scope.of(api_key).store_ids
    if redemption.store_id is not None and store_ids is not None and redemption.store_id not in store_ids:
        return False
    return redemption.api_key is None or redemption.api_key.channel == api_key.channel


def coupon_return(
    *,
    code: str,
    channel: str,
    order_ref: str,
    request_no: str,
    api_key: ApiKey | None = None,
    now: dt.datetime | None = None,
) -> Redeemed:
    """Reverse a redemption (the order was returned): the coupon is usable again within its window. `api_key`
    reverses only what it owns (`_key_owns`); anything else is answered as an unknown order (`wrong_order`)."""
    request_no = request_no_clean(request_no)
    coupon = coupon_by_code(code=code)
    replay = redemption_replayed(request_no=request_no, coupon=coupon, kind=Redemption.Kind.RETURN, api_key=api_key)
    if replay is not None:
        return replay
    try:
        with transaction.atomic():
            coupon = Coupon.objects.select_for_update(no_key=True).get(pk=coupon.pk)
            replay = redemption_replayed(
                request_no=request_no, coupon=coupon, kind=Redemption.Kind.RETURN, api_key=api_key
            )
            if replay is not None:
                return replay
            if coupon.status != Coupon.Status.REDEEMED:
                raise conflict("not_redeemed", "这张券没有被使用，无需退回。")
            used = (
                coupon.redemptions.filter(kind=Redemption.Kind.REDEEM).select_related("api_key").order_by("-pk").first()
            )
            if used.order_ref != order_ref or used.channel != channel or not _key_owns(api_key, used):
                # Another store's or channel's redemption is answered as an unknown order: nothing is revealed.
                raise conflict("wrong_order", "这张券不是在这笔订单上使用的。")
            Coupon.objects.filter(pk=coupon.pk).update(status=Coupon.Status.ISSUED, redeemed_at=None)
            CouponOrder.objects.filter(channel=channel, order_ref=order_ref, coupons__gt=0).update(
                coupons=F("coupons") - 1, exclusive=False
            )
            redemption = Redemption.objects.create(
                request_no=request_no,
                kind=Redemption.Kind.RETURN,
                coupon=coupon,
                channel=used.channel,
                store=used.store,
                order_ref=used.order_ref,
                amount=used.amount,
                discount=used.discount,
                credited_associate_id=used.credited_associate_id,
                credited_store_id=used.credited_store_id,
                api_key=api_key,
            )
    except IntegrityError as error:
        raise conflict("request_no_reused", "这个请求号已用于另一次核销或退回。") from error
    return Redeemed(redemption=redemption, created=True)


def coupon_revoke(*, coupon_id: int) -> Coupon:
    """Cancel an unused coupon (sent by mistake, abuse); a used, expired or revoked one is left as it is."""
    if not Coupon.objects.filter(pk=coupon_id, status=Coupon.Status.ISSUED).update(status=Coupon.Status.REVOKED):
        raise conflict("not_revocable", "只有未使用的券可以作废。")
    return Coupon.objects.get(pk=coupon_id)
