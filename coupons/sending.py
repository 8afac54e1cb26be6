"""Sending a pack to one customer: `coupon_pack_send` (the sidebar, the welcome message), all of a pack or none.

Every limit is decided by the database in the statement that takes it: the pack's budget, the associate's
daily quota, a template's stock, its per-day and per-customer limits are conditional UPDATEs or upserts with
a WHERE, so two sends can never both take the last coupon. A send takes its row locks in one fixed order
(request number → pack → associate's day → templates by id → their days → the customer's holdings), so
concurrent sends queue instead of deadlocking. The request number is unique in the send ledger
(`IssueRequest`): a replay returns the first coupons and writes nothing.

This is the reference path of sending. `coupons.sending_many` is its set-based equivalent for a campaign's
thousands of customers, and decides the same rules for each of them; a change to a rule here (a new limit, a
counter, a column of the coupon or the ledger row, the window) must be made there too, and
tests/test_till_equivalence.py runs both on the same inputs.
"""

import dataclasses
import datetime as dt
import logging
import secrets
from collections.abc import Sequence
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from associates.models import Associate
from clientbook.models import FollowRelation
from coupons.models import (
    CODE_ALPHABET,
    CODE_LENGTH,
    AssociatePackDay,
    Coupon,
    CouponPack,
    CouponPackItem,
    CouponTemplate,
    CustomerHolding,
    IssueRequest,
    TemplateDay,
)
from coupons.refusals import conflict, request_no_clean
from coupons.selectors import customer_golden
from coupons.validity import coupon_window, local_day
from omni.errors import ApplicationError

logger = logging.getLogger(__name__)

# 256 is a multiple of the alphabet's 32 letters, so `byte % 32` draws every letter with the same chance.
_CODE_LETTERS = bytes(ord(CODE_ALPHABET[byte % len(CODE_ALPHABET)]) for byte in range(256))


def code_draw() -> str:
    """A new random coupon code (the unique index refuses the rare clash)."""
    return codes_draw(1)[0]


def codes_draw(count: int) -> list[str]:
    """`count` new random coupon codes, their letters drawn from the system's randomness in one call."""
    letters = secrets.token_bytes(CODE_LENGTH * count).translate(_CODE_LETTERS).decode()
    return [letters[i : i + CODE_LENGTH] for i in range(0, len(letters), CODE_LENGTH)]


@dataclasses.dataclass(frozen=True)
class PackSent:
    request: IssueRequest
    coupons: list[Coupon]
    created: bool


def pack_items(pack: CouponPack) -> list[CouponPackItem]:
    """The pack's items with their templates, in the templates' lock order (by id); `pack_empty` when none."""
    items = sorted(pack.items.select_related("template"), key=lambda item: item.template_id)
    if not items:
        raise conflict("pack_empty", f"券包「{pack}」里还没有券。")
    return items


def coupon_pack_cost(*, items: Sequence[CouponPackItem]) -> Decimal:
    """What one send of a pack takes from its budget: the face value of its coupons."""
    return sum((item.template.face_value * item.quantity for item in items), Decimal("0.00"))


def coupon_pack_sendable(*, pack: CouponPack, associate: Associate) -> bool:
    """Whether this associate may send this pack at all (its stores and roles), whatever is left today."""
    if pack.sender_role == CouponPack.SenderRole.STORE_MANAGER and associate.role != Associate.Role.STORE_MANAGER:
        return False
    store_ids = {store.pk for store in pack.stores.all()}
    return not store_ids or associate.store_id in store_ids


def _replayed(*, request_no: str, pack_id: int, customer_id: int) -> PackSent | None:
    request = IssueRequest.objects.filter(request_no=request_no).first()
    if request is None:
        return None
    if request.pack_id != pack_id or request.customer_id != customer_id:
        raise conflict("request_no_reused", "这个请求号已用于另一次发券。")
    # Found among the customer's coupons (Coupon.issue_request has no index of its own).
    coupons = request.coupons.filter(customer_id=request.customer_id).order_by("pk")
    return PackSent(request=request, coupons=list(coupons), created=False)


def counter_take(table: str, counter: str, keys: dict, amount: int, limit: int) -> bool:
    """Add `amount` to the counter row at `keys` (made when missing) unless it would pass `limit`; whether it did."""
    if amount > limit:
        return False
    names = list(keys)
    sql = (
        f"INSERT INTO {table} AS t ({', '.join([*names, counter])}) VALUES ({', '.join(['%s'] * (len(names) + 1))}) "
        f"ON CONFLICT ({', '.join(names)}) DO UPDATE SET {counter} = t.{counter} + %s "
        f"WHERE t.{counter} + %s <= %s RETURNING 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*keys.values(), amount, amount, amount, limit])
        return cursor.fetchone() is not None


def _template_unavailable(template: CouponTemplate) -> ApplicationError:
    return conflict("template_unavailable", f"「{template}」当前不在发放中。")


def coupon_pack_send(
    *,
    pack_id: int,
    customer_id: int,
    request_no: str,
    associate: Associate | None,
    source: str = IssueRequest.Source.SIDEBAR,
    now: dt.datetime | None = None,
) -> PackSent:
    """Issue every coupon of the pack to the customer, or none; a replay of `request_no` returns the first result.

    Errors (nothing written): pack_unavailable, not_allowed, quota_reached, budget_exhausted, template_unavailable,
    out_of_stock, daily_limit_reached, limit_reached, request_no_reused.
    """
    request_no = request_no_clean(request_no)
    if (replay := _replayed(request_no=request_no, pack_id=pack_id, customer_id=customer_id)) is not None:
        return replay
    pack = CouponPack.objects.filter(pk=pack_id).first()
    if pack is None:
        raise ApplicationError("pack_not_found", "没有找到这个券包。", status_code=404)
    if associate is not None and not coupon_pack_sendable(pack=pack, associate=associate):
        raise ApplicationError("not_allowed", f"您不能发送券包「{pack}」。", status_code=403)
    customer = customer_golden(customer_id=customer_id)
    items = pack_items(pack)
    cost = coupon_pack_cost(items=items)
    now = now or timezone.now()
    today = local_day(now)
    windows = {item.template_id: coupon_window(template=item.template, issued_at=now) for item in items}
    for item in items:
        if windows[item.template_id][1] <= now:
            raise conflict("template_ended", f"「{item.template}」的有效期已经结束。")
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    request = IssueRequest.objects.create(
                        request_no=request_no,
                        pack=pack,
                        customer=customer,
                        associate=associate,
                        store=associate.store if associate else None,
                        source=source,
                        cost=cost,
                    )
            except IntegrityError:
                # The same request number committed by a concurrent call while this one waited on its index entry.
                replay = _replayed(request_no=request_no, pack_id=pack_id, customer_id=customer.pk)
                if replay is None:
                    raise
                return replay
            _take_pack(pack, cost)
            if associate is not None and not counter_take(
                AssociatePackDay._meta.db_table,
                "sent",
                {"pack_id": pack.pk, "associate_id": associate.pk, "day": today},
                1,
                pack.daily_quota,
            ):
                raise conflict("quota_reached", f"您今天发送「{pack}」的次数已达上限（{pack.daily_quota} 份）。")
            for item in items:
                _take_stock(item.template, item.quantity)
            for item in items:
                limit = item.template.per_day_limit
                if limit is not None and not counter_take(
                    TemplateDay._meta.db_table,
                    "issued",
                    {"template_id": item.template_id, "day": today},
                    item.quantity,
                    limit,
                ):
                    raise conflict("daily_limit_reached", f"「{item.template}」今天的发放量已达上限。")
            for item in items:
                if not counter_take(
                    CustomerHolding._meta.db_table,
                    "issued",
                    {"template_id": item.template_id, "customer_id": customer.pk},
                    item.quantity,
                    item.template.per_customer_limit,
                ):
                    raise conflict(
                        "limit_reached",
                        f"这位客户已领过「{item.template}」，每人限领 {item.template.per_customer_limit} 张。",
                    )
            coupons = [
                Coupon(
                    code=code_draw(),
                    template_id=item.template_id,
                    issue_request=request,
                    customer=customer,
                    associate=associate,
                    store_id=associate.store_id if associate else None,
                    valid_from=windows[item.template_id][0],
                    valid_until=windows[item.template_id][1],
                    issued_at=now,
                )
                for item in items
                for _ in range(item.quantity)
            ]
            Coupon.objects.bulk_create(coupons)
    except IntegrityError as error:
        raise conflict("try_again", "发券时遇到冲突，请重试。") from error
    return PackSent(request=request, coupons=coupons, created=True)


def _take_pack(pack: CouponPack, cost: Decimal) -> None:
    taken = CouponPack.objects.filter(
        pk=pack.pk, status=CouponPack.Status.RUNNING, spent__lte=F("budget") - cost
    ).update(spent=F("spent") + cost)
    if not taken:
        status = CouponPack.objects.filter(pk=pack.pk).values_list("status", flat=True).first()
        if status != CouponPack.Status.RUNNING:
            raise conflict("pack_unavailable", f"券包「{pack}」已暂停或停止发放。")
        raise conflict("budget_exhausted", f"券包「{pack}」的预算已用完。")


def _take_stock(template: CouponTemplate, quantity: int) -> None:
    taken = CouponTemplate.objects.filter(
        pk=template.pk, status=CouponTemplate.Status.RUNNING, issued_count__lte=F("total_stock") - quantity
    ).update(issued_count=F("issued_count") + quantity)
    if not taken:
        status = CouponTemplate.objects.filter(pk=template.pk).values_list("status", flat=True).first()
        if status != CouponTemplate.Status.RUNNING:
            raise _template_unavailable(template)
        raise conflict("out_of_stock", f"「{template}」已经发完了。")


def coupon_welcome_pack_send(*, follow_id: int, now: dt.datetime | None = None) -> PackSent | None:
    """Issue the store's welcome pack to a customer who just added an associate; None when there is none to send.

    The request number is the friendship's, so the welcome task's retries return the same coupons. A pack that
    cannot be issued (stock, budget, the customer's limit) leaves the welcome message to go out without it.
    """
    follow = FollowRelation.objects.select_related("associate__store", "contact_way__parent").get(pk=follow_id)
    associate = follow.associate
    packs = CouponPack.objects.filter(welcome=True, status=CouponPack.Status.RUNNING)
    # A customer who came through a code with a pack of its own gets that pack instead of the store's.
    code = follow.contact_way.parent if follow.contact_way and follow.contact_way.parent_id else follow.contact_way
    if code is not None and code.welcome_pack_id:
        packs = CouponPack.objects.filter(pk=code.welcome_pack_id, status=CouponPack.Status.RUNNING)
    for pack in packs.order_by("-pk"):
        if not coupon_pack_sendable(pack=pack, associate=associate):
            continue
        try:
            return coupon_pack_send(
                pack_id=pack.pk,
                customer_id=follow.customer_id,
                request_no=f"welcome:{follow.pk}",
                associate=associate,
                source=IssueRequest.Source.WELCOME,
                now=now,
            )
        except ApplicationError as error:
            logger.info("Welcome pack %s not issued for follow %s: %s", pack.pk, follow.pk, error.code)
            return None
    return None
