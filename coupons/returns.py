"""Coupons and returns anywhere: when a till takes back lines of an order (customers.returns), each coupon used on
that order comes back or not as its template says (`CouponTemplate.restore_on_return`).

A coupon "used on the returned lines" is one whose template applies to at least one of them (all lines for a
coupon valid on everything). `any_returned` restores it at the first such return; `all_returned` once every line it
applies to is returned in full; `never` keeps it used. Restoring is the coupon return of the till
(`coupons.redemption.coupon_return`) under a request number derived from the order return, so the ledger shows it
like any other, and a replayed order return — which never reaches this hook — restores nothing twice.
"""

import logging

from coupons.models import Channels, Coupon, CouponTemplate, Redemption
from coupons.redemption import coupon_return
from customers.models import Channel, Order, OrderLine
from customers.returns import ReturnedLine, order_lines_left
from omni.errors import ApplicationError

logger = logging.getLogger(__name__)


def _applies_to(template: CouponTemplate, lines: list[OrderLine]) -> set[int]:
    """The ids of the sold lines the template's coupon applies to."""
    sold = [line for line in lines if line.quantity > 0]
    if template.scope == CouponTemplate.Scope.SKUS:
        in_scope = set(template.products.values_list("pk", flat=True))
        return {line.pk for line in sold if line.product_id in in_scope}
    if template.scope == CouponTemplate.Scope.CATEGORIES:
        return {line.pk for line in sold if line.product.category in template.categories}
    return {line.pk for line in sold}


def coupons_restore_on_return(*, order_return: Order, original: Order, lines: list[ReturnedLine]) -> list[Coupon]:
    """Restore the coupons used on `original` whose template's rule this return meets; returns them."""
    channel = Channels.STORE if original.channel == Channel.STORE_POS else Channels.ONLINE
    used = (
        Redemption.objects.filter(
            kind=Redemption.Kind.REDEEM,
            channel=channel,
            order_ref=original.external_id,
            coupon__status=Coupon.Status.REDEEMED,
        )
        .exclude(coupon__template__restore_on_return=CouponTemplate.RestoreOnReturn.NEVER)
        .select_related("coupon__template")
        .order_by("coupon_id", "-pk")
    )
    candidates = {redemption.coupon_id: redemption.coupon for redemption in used}
    if not candidates:
        return []
    left = {item.line.pk: item.quantity for item in order_lines_left(order=original)}
    all_lines = list(original.lines.select_related("product"))
    returned_now = {item.original.pk for item in lines}
    restored = []
    for coupon in candidates.values():
        template = coupon.template
        applies = _applies_to(template, all_lines)
        if not applies & returned_now:
            continue
        if template.restore_on_return == CouponTemplate.RestoreOnReturn.ALL_RETURNED and any(
            left.get(pk, 0) for pk in applies
        ):
            continue
        try:
            coupon_return(
                code=coupon.code,
                channel=channel,
                order_ref=original.external_id,
                request_no=f"order-return-{order_return.pk}-{coupon.pk}",
            )
        except ApplicationError as error:
            # Used again since on another order (its last redemption is not this one): it stays as it is.
            logger.info("coupon %s not restored on return %s: %s", coupon.pk, order_return.pk, error.code)
            continue
        restored.append(coupon)
    return restored
