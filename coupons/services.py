"""Coupon writes: sending packs, redeeming, returning, revoking, expiring, and managers' edits.

Every limit is decided by the database in the statement that takes it: the pack's budget, the associate's
daily quota, a template's stock, its per-day and per-customer limits are conditional UPDATEs or upserts with
a WHERE, so two sends can never both take the last coupon. A send takes its row locks in one fixed order
(request number → pack → associate's day → templates by id → their days → the customer's holdings), so
concurrent sends queue instead of deadlocking. A redemption locks its coupon row. Each write carries a
request number unique in its ledger: a replay returns the stored result and writes nothing.
"""

import dataclasses
import datetime as dt
import json
import logging
import secrets
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, F, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from associates.models import Associate, Store
from clientbook.models import FollowRelation, FollowUpTask
from coupons.models import (
    CODE_ALPHABET,
    CODE_LENGTH,
    AssociatePackDay,
    Channels,
    Coupon,
    CouponOrder,
    CouponPack,
    CouponPackItem,
    CouponTemplate,
    CustomerHolding,
    IssueRequest,
    Redemption,
    TemplateDay,
    code_normalize,
    yuan,
)
from customers.ingestion import Scope
from customers.models import ApiKey, Customer, Product
from omni import rawsql
from omni.bulk import bulk_copy, next_ids
from omni.errors import ApplicationError
from omni.rawsql import CENT, moment, money

REQUEST_NO_MAX = 64

logger = logging.getLogger(__name__)


def _conflict(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, status_code=409)


def _request_no(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > REQUEST_NO_MAX:
        raise ApplicationError("invalid_request_no", f"request_no must be 1 to {REQUEST_NO_MAX} characters.")
    return value


def local_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment).date()


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of a local (Asia/Shanghai) day, as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def coupon_window(*, template: CouponTemplate, issued_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """When a coupon issued now may be used: the template's fixed window, or N days from issue.

    Relative validity counts local days: "7 days" issued on the 1st at 15:00 ends at midnight after the 7th;
    a delay of D days starts it at midnight D days after the day of issue.
    """
    if template.valid_days:
        issue_day = local_day(issued_at)
        starts = (
            issued_at
            if not template.valid_delay_days
            else _day_start(issue_day + dt.timedelta(days=template.valid_delay_days))
        )
        ends = _day_start(local_day(starts) + dt.timedelta(days=template.valid_days))
        return starts, ends
    if template.valid_until is None:
        raise ApplicationError("template_invalid", f"「{template}」没有设置有效期。")
    return template.valid_from or issued_at, template.valid_until


# 256 is a multiple of the alphabet's 32 letters, so `byte % 32` draws every letter with the same chance.
_CODE_LETTERS = bytes(ord(CODE_ALPHABET[byte % len(CODE_ALPHABET)]) for byte in range(256))


def _code() -> str:
    return secrets.token_bytes(CODE_LENGTH).translate(_CODE_LETTERS).decode()


def customer_golden(*, customer_id: int) -> Customer:
    """The One ID record a (possibly merged) customer id stands for today."""
    customer = Customer.objects.filter(pk=customer_id).first()
    seen = set()
    while customer is not None and customer.merged_into_id and customer.pk not in seen:
        seen.add(customer.pk)
        customer = Customer.objects.filter(pk=customer.merged_into_id).first()
    if customer is None:
        raise ApplicationError("customer_not_found", "没有找到这位客户。", status_code=404)
    return customer


# ---------------------------------------------------------------------------------------------------------------
# Sending a pack to one customer


@dataclasses.dataclass(frozen=True)
class PackSent:
    request: IssueRequest
    coupons: list[Coupon]
    created: bool


def _pack_items(pack: CouponPack) -> list[CouponPackItem]:
    items = sorted(pack.items.select_related("template"), key=lambda item: item.template_id)
    if not items:
        raise _conflict("pack_empty", f"券包「{pack}」里还没有券。")
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
        raise _conflict("request_no_reused", "这个请求号已用于另一次发券。")
    return PackSent(request=request, coupons=list(request.coupons.order_by("pk")), created=False)


def _take(table: str, counter: str, keys: dict, amount: int, limit: int) -> bool:
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
    return _conflict("template_unavailable", f"「{template}」当前不在发放中。")


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
    request_no = _request_no(request_no)
    if (replay := _replayed(request_no=request_no, pack_id=pack_id, customer_id=customer_id)) is not None:
        return replay
    pack = CouponPack.objects.filter(pk=pack_id).first()
    if pack is None:
        raise ApplicationError("pack_not_found", "没有找到这个券包。", status_code=404)
    if associate is not None and not coupon_pack_sendable(pack=pack, associate=associate):
        raise ApplicationError("not_allowed", f"您不能发送券包「{pack}」。", status_code=403)
    customer = customer_golden(customer_id=customer_id)
    items = _pack_items(pack)
    cost = coupon_pack_cost(items=items)
    now = now or timezone.now()
    today = local_day(now)
    windows = {item.template_id: coupon_window(template=item.template, issued_at=now) for item in items}
    for item in items:
        if windows[item.template_id][1] <= now:
            raise _conflict("template_ended", f"「{item.template}」的有效期已经结束。")
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
            if associate is not None and not _take(
                AssociatePackDay._meta.db_table,
                "sent",
                {"pack_id": pack.pk, "associate_id": associate.pk, "day": today},
                1,
                pack.daily_quota,
            ):
                raise _conflict("quota_reached", f"您今天发送「{pack}」的次数已达上限（{pack.daily_quota} 份）。")
            for item in items:
                _take_stock(item.template, item.quantity)
            for item in items:
                limit = item.template.per_day_limit
                if limit is not None and not _take(
                    TemplateDay._meta.db_table,
                    "issued",
                    {"template_id": item.template_id, "day": today},
                    item.quantity,
                    limit,
                ):
                    raise _conflict("daily_limit_reached", f"「{item.template}」今天的发放量已达上限。")
            for item in items:
                if not _take(
                    CustomerHolding._meta.db_table,
                    "issued",
                    {"template_id": item.template_id, "customer_id": customer.pk},
                    item.quantity,
                    item.template.per_customer_limit,
                ):
                    raise _conflict(
                        "limit_reached",
                        f"这位客户已领过「{item.template}」，每人限领 {item.template.per_customer_limit} 张。",
                    )
            coupons = [
                Coupon(
                    code=_code(),
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
        raise _conflict("try_again", "发券时遇到冲突，请重试。") from error
    return PackSent(request=request, coupons=coupons, created=True)


def _take_pack(pack: CouponPack, cost: Decimal) -> None:
    taken = CouponPack.objects.filter(
        pk=pack.pk, status=CouponPack.Status.RUNNING, spent__lte=F("budget") - cost
    ).update(spent=F("spent") + cost)
    if not taken:
        status = CouponPack.objects.filter(pk=pack.pk).values_list("status", flat=True).first()
        if status != CouponPack.Status.RUNNING:
            raise _conflict("pack_unavailable", f"券包「{pack}」已暂停或停止发放。")
        raise _conflict("budget_exhausted", f"券包「{pack}」的预算已用完。")


def _take_stock(template: CouponTemplate, quantity: int) -> None:
    taken = CouponTemplate.objects.filter(
        pk=template.pk, status=CouponTemplate.Status.RUNNING, issued_count__lte=F("total_stock") - quantity
    ).update(issued_count=F("issued_count") + quantity)
    if not taken:
        status = CouponTemplate.objects.filter(pk=template.pk).values_list("status", flat=True).first()
        if status != CouponTemplate.Status.RUNNING:
            raise _template_unavailable(template)
        raise _conflict("out_of_stock", f"「{template}」已经发完了。")


def coupon_welcome_pack_send(*, follow_id: int, now: dt.datetime | None = None) -> PackSent | None:
    """Issue the store's welcome pack to a customer who just added an associate; None when there is none to send.

    The request number is the friendship's, so the welcome task's retries return the same coupons. A pack that
    cannot be issued (stock, budget, the customer's limit) leaves the welcome message to go out without it.
    """
    follow = FollowRelation.objects.select_related("associate__store").get(pk=follow_id)
    associate = follow.associate
    for pack in CouponPack.objects.filter(welcome=True, status=CouponPack.Status.RUNNING).order_by("-pk"):
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


# ---------------------------------------------------------------------------------------------------------------
# Sending a pack to many customers (campaigns): set-based, a batch per transaction


@dataclasses.dataclass
class ManySent:
    issued: int = 0  # customers who received the pack in this call
    replayed: int = 0  # customers who had already received it under this request prefix
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)  # reason → customers left without it

    def skip(self, reason: str, count: int) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count


def coupon_pack_send_many(
    *,
    pack_id: int,
    recipients: Sequence[tuple[int, int | None]],
    request_prefix: str,
    source: str = IssueRequest.Source.CAMPAIGN,
    now: dt.datetime | None = None,
    batch_size: int = 5000,
) -> ManySent:
    """Issue the pack to each (customer id, crediting associate id or None), all of a pack or none per customer.

    Each customer's request number is "<request_prefix>:<customer id>", so running a campaign again issues only
    to those not yet served. The pack's and templates' rows are locked for the batch (single sends wait), and
    customers are served in the given order until stock, budget or a day's limit runs out. Associates' daily
    quotas do not apply: a campaign is approved by a manager.
    """
    result = ManySent()
    now = now or timezone.now()
    for start in range(0, len(recipients), batch_size):
        chunk = recipients[start : start + batch_size]
        for attempt in range(3):
            try:
                with transaction.atomic():
                    _send_batch(pack_id, chunk, request_prefix, source, now, result)
                break
            except IntegrityError:
                # Only a clash of two random coupon codes gets here: draw new ones.
                if attempt == 2:
                    raise
    return result


def _send_batch(
    pack_id: int,
    chunk: Sequence[tuple[int, int | None]],
    prefix: str,
    source: str,
    now: dt.datetime,
    result: ManySent,
) -> None:
    pack = CouponPack.objects.select_for_update(no_key=True).filter(pk=pack_id).first()
    if pack is None:
        raise ApplicationError("pack_not_found", "没有找到这个券包。", status_code=404)
    items = _pack_items(pack)
    templates = {
        template.pk: template
        for template in CouponTemplate.objects.select_for_update(no_key=True)
        .filter(pk__in=[item.template_id for item in items])
        .order_by("pk")
    }
    if pack.status != CouponPack.Status.RUNNING:
        result.skip("pack_unavailable", len(chunk))
        return
    if any(template.status != CouponTemplate.Status.RUNNING for template in templates.values()):
        result.skip("template_unavailable", len(chunk))
        return
    windows = {pk: coupon_window(template=template, issued_at=now) for pk, template in templates.items()}
    if any(ends <= now for _, ends in windows.values()):
        result.skip("template_ended", len(chunk))
        return

    by_customer = dict(chunk)
    request_nos = {f"{prefix}:{customer_id}": customer_id for customer_id in by_customer}
    done = set(
        IssueRequest.objects.filter(_among("request_no", list(request_nos), sql_type="text")).values_list(
            "request_no", flat=True
        )
    )
    result.replayed += len(done)
    live = set(
        Customer.objects.filter(
            _among("id", [c for n, c in request_nos.items() if n not in done]), merged_into__isnull=True
        ).values_list("pk", flat=True)
    )
    todo = [c for n, c in request_nos.items() if n not in done and c in live]
    result.skip("customer_not_found", len(request_nos) - len(done) - len(todo))

    held: dict[tuple[int, int], int] = {}
    for template_id, customer_id, issued in CustomerHolding.objects.filter(
        _among("customer_id", todo), template_id__in=list(templates)
    ).values_list("template_id", "customer_id", "issued"):
        held[template_id, customer_id] = issued
    eligible = [
        c
        for c in todo
        if all(
            held.get((i.template_id, c), 0) + i.quantity <= templates[i.template_id].per_customer_limit for i in items
        )
    ]
    result.skip("limit_reached", len(todo) - len(eligible))

    today = local_day(now)
    day_issued = dict(
        TemplateDay.objects.filter(template_id__in=list(templates), day=today).values_list("template_id", "issued")
    )
    cost = coupon_pack_cost(items=items)
    fits = {"budget_exhausted": int((pack.budget - pack.spent) // cost) if cost else len(eligible)}
    for item in items:
        template = templates[item.template_id]
        fits[f"out_of_stock:{template.pk}"] = (template.total_stock - template.issued_count) // item.quantity
        if template.per_day_limit is not None:
            left = template.per_day_limit - day_issued.get(template.pk, 0)
            fits[f"daily_limit_reached:{template.pk}"] = max(0, left) // item.quantity
    reason, fit = min(fits.items(), key=lambda pair: pair[1])
    served = eligible[: max(0, fit)]
    result.skip(reason.split(":")[0], len(eligible) - len(served))
    if not served:
        return

    associates = {
        a: s
        for a, s in Associate.objects.filter(pk__in={by_customer[c] for c in served} - {None}).values_list(
            "pk", "store_id"
        )
    }
    request_ids = next_ids(IssueRequest, len(served))
    bulk_copy(
        IssueRequest,
        ["id", "request_no", "pack_id", "customer_id", "associate_id", "store_id", "source", "cost", "created_at"],
        (
            (rid, f"{prefix}:{c}", pack.pk, c, by_customer[c], associates.get(by_customer[c]), source, cost, now)
            for rid, c in zip(request_ids, served, strict=True)
        ),
    )
    bulk_copy(
        Coupon,
        [
            "code",
            "template_id",
            "issue_request_id",
            "customer_id",
            "associate_id",
            "store_id",
            "valid_from",
            "valid_until",
            "status",
            "issued_at",
        ],
        (
            (
                _code(),
                item.template_id,
                rid,
                c,
                by_customer[c],
                associates.get(by_customer[c]),
                *windows[item.template_id],
                Coupon.Status.ISSUED,
                now,
            )
            for rid, c in zip(request_ids, served, strict=True)
            for item in items
            for _ in range(item.quantity)
        ),
    )
    _holdings_add(items, served)
    for item in items:
        quantity = item.quantity * len(served)
        CouponTemplate.objects.filter(pk=item.template_id).update(issued_count=F("issued_count") + quantity)
        if templates[item.template_id].per_day_limit is not None:
            _take(
                TemplateDay._meta.db_table,
                "issued",
                {"template_id": item.template_id, "day": today},
                quantity,
                templates[item.template_id].per_day_limit,
            )
    CouponPack.objects.filter(pk=pack.pk).update(spent=F("spent") + cost * len(served))
    result.issued += len(served)


def _among(column: str, values: list, *, sql_type: str = "bigint") -> Q | RawSQL:
    """`column IN values` for thousands of values: on PostgreSQL one array parameter, because psycopg takes
    longer to rewrite an IN list of 5,000 placeholders than the database takes to answer it."""
    if connection.vendor != "postgresql":
        return Q(**{f"{column}__in": values})
    return RawSQL(f"{connection.ops.quote_name(column)} = ANY(%s::{sql_type}[])", [values], output_field=BooleanField())


def _holdings_add(items: Sequence[CouponPackItem], customer_ids: Sequence[int]) -> None:
    table = CustomerHolding._meta.db_table
    upsert = "ON CONFLICT (template_id, customer_id) DO UPDATE SET issued = t.issued + excluded.issued"
    with connection.cursor() as cursor:
        for item in items:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"INSERT INTO {table} AS t (template_id, customer_id, issued) "
                    f"SELECT %s, c, %s FROM unnest(%s::bigint[]) AS c {upsert}",
                    [item.template_id, item.quantity, list(customer_ids)],
                )
            else:
                cursor.executemany(
                    f"INSERT INTO {table} AS t (template_id, customer_id, issued) VALUES (%s, %s, %s) {upsert}",
                    [(item.template_id, c, item.quantity) for c in customer_ids],
                )


# ---------------------------------------------------------------------------------------------------------------
# Redeeming, returning, revoking


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
class Redeemed:
    redemption: Redemption
    created: bool


def _rule(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, status_code=422)


def _eligible_amount(template: CouponTemplate, order: OrderIn) -> Decimal:
    if template.scope == CouponTemplate.Scope.ALL:
        return order.amount
    if not order.lines:
        raise _rule("lines_required", "这张券只限部分商品使用，请传入订单明细 lines。")
    skus = {line.sku for line in order.lines}
    if template.scope == CouponTemplate.Scope.SKUS:
        in_scope = set(template.products.filter(sku__in=skus).values_list("sku", flat=True))
    else:
        in_scope = set(
            Product.objects.filter(sku__in=skus, category__in=template.categories).values_list("sku", flat=True)
        )
    return min(order.amount, sum((line.amount for line in order.lines if line.sku in in_scope), Decimal("0.00")))


def coupon_quote(*, coupon: Coupon, order: OrderIn, now: dt.datetime) -> Quote:
    """What the coupon takes off this order, or the rule it breaks (stable codes; nothing is written)."""
    template = coupon.template
    if coupon.status == Coupon.Status.REDEEMED:
        raise _conflict("already_redeemed", "这张券已经使用过了。")
    if coupon.status == Coupon.Status.REVOKED:
        raise _conflict("revoked", "这张券已作废。")
    if coupon.status == Coupon.Status.EXPIRED or now >= coupon.valid_until:
        raise _rule("expired", f"这张券已于 {timezone.localtime(coupon.valid_until):%Y-%m-%d %H:%M} 过期。")
    if now < coupon.valid_from:
        raise _rule("not_yet_valid", f"这张券 {timezone.localtime(coupon.valid_from):%Y-%m-%d %H:%M} 起可用。")
    local = timezone.localtime(now)
    if template.weekdays and local.isoweekday() not in template.weekdays:
        days = "、".join("一二三四五六日"[day - 1] for day in sorted(template.weekdays))
        raise _rule("not_valid_today", f"这张券仅限每周{days}使用。")
    if (template.day_starts and local.time() < template.day_starts) or (
        template.day_ends and local.time() >= template.day_ends
    ):
        raise _rule(
            "not_valid_now", f"这张券仅限每天 {template.day_starts or '00:00'}–{template.day_ends or '24:00'} 使用。"
        )
    if template.channels not in (Channels.BOTH, order.channel):
        raise _rule("wrong_channel", f"这张券只能在{template.get_channels_display()}使用。")
    if order.channel == Channels.STORE:
        if order.store is None:
            raise ApplicationError("store_required", "门店核销需要门店编码 store。")
        if not _store_allows(template, order.store):
            raise _rule("wrong_store", f"这张券不能在{order.store.name}使用。")
    eligible = _eligible_amount(template, order)
    if eligible <= 0:
        raise _rule("not_applicable", "订单里没有这张券适用的商品。")
    if eligible < template.threshold:
        raise _rule("below_threshold", f"适用商品满 {yuan(template.threshold)} 元才能使用，当前 {yuan(eligible)} 元。")
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


def coupon_by_code(*, code: str) -> Coupon:
    coupon = Coupon.objects.select_related("template").filter(code=code_normalize(code)).first()
    if coupon is None:
        raise ApplicationError("unknown_code", "没有这个券码。", status_code=404)
    return coupon


def _redemption_replayed(
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
        raise _conflict("request_no_reused", "这个请求号已用于另一次核销或退回。")
    return Redeemed(redemption=redemption, created=False)


_TEMPLATE_COLUMNS = (
    "id", "name", "kind", "value", "threshold", "max_discount", "gift_product_id", "scope", "categories", "channels",
    "weekdays", "day_starts", "day_ends", "stacking",
)  # fmt: skip


def _coupon_read(*, code: str, store_id: int | None, request_no: str, lock: bool) -> Coupon:
    """The coupon by its code, with its template, whether the template allows `store_id` and whether
    `request_no` is in the ledger already, in one statement (the till's hottest path); row-locked when `lock`.
    The template also carries its sender's WeCom userid and store code.

    `coupon.request_known` is read in the statement's snapshot, taken before a lock is granted: True is final,
    but False only holds while the coupon is still issued (a transaction that held the lock may have redeemed it
    under this very request number, and committed, while this one waited)."""
    lock = " FOR NO KEY UPDATE OF c" if lock and connection.vendor == "postgresql" else ""
    template_table, stores_table = CouponTemplate._meta.db_table, CouponTemplate.stores.through._meta.db_table
    sql = (
        "SELECT c.id, c.code, c.status, c.valid_from, c.valid_until, c.associate_id, c.store_id, c.customer_id, "
        f"a.wecom_userid, s.code, {', '.join(f't.{column}' for column in _TEMPLATE_COLUMNS)}, "
        f"EXISTS (SELECT 1 FROM {stores_table} ts WHERE ts.coupontemplate_id = t.id), "
        f"EXISTS (SELECT 1 FROM {stores_table} ts "
        "WHERE ts.coupontemplate_id = t.id AND ts.store_id = CAST(%s AS bigint)), "
        f"EXISTS (SELECT 1 FROM {Redemption._meta.db_table} r WHERE r.request_no = %s) "
        f"FROM {Coupon._meta.db_table} c JOIN {template_table} t ON t.id = c.template_id "
        f"LEFT JOIN {Associate._meta.db_table} a ON a.id = c.associate_id "
        f"LEFT JOIN {Store._meta.db_table} s ON s.id = c.store_id "
        f"WHERE c.code = %s{lock}"
    )
    found = rawsql.rows(sql, [store_id, request_no, code_normalize(code)], prepare=True)
    row = found[0] if found else None
    if row is None:
        raise ApplicationError("unknown_code", "没有这个券码。", status_code=404)
    pk, code, status, valid_from, valid_until, associate_id, sender_store_id, customer_id, userid, store_code = row[:10]
    values = dict(zip(_TEMPLATE_COLUMNS, row[10 : 10 + len(_TEMPLATE_COLUMNS)], strict=True))
    limited, allowed, request_known = row[10 + len(_TEMPLATE_COLUMNS) :]
    # As the drivers give them: JSON as text (Django parses it itself), and on SQLite numbers and times as such.
    for column in ("value", "threshold", "max_discount"):
        values[column] = None if values[column] is None else money(values[column])
    for column in ("categories", "weekdays"):
        if isinstance(values[column], str):
            values[column] = json.loads(values[column])
    for column in ("day_starts", "day_ends"):
        if isinstance(values[column], str):
            values[column] = dt.time.fromisoformat(values[column])
    template = CouponTemplate(**values)
    template.store_check = (store_id, bool(limited), bool(allowed))
    coupon = Coupon(
        pk=pk,
        code=code,
        status=status,
        valid_from=moment(valid_from),
        valid_until=moment(valid_until),
        associate_id=associate_id,
        store_id=sender_store_id,
        customer_id=customer_id,
        template=template,
    )
    coupon.sender_userid, coupon.sender_store_code = userid, store_code
    coupon.request_known = bool(request_known)
    return coupon


def _store_allows(template: CouponTemplate, store: Store) -> bool:
    """Whether a till of `store` may take this template's coupons (no stores set: every store)."""
    known = getattr(template, "store_check", None)  # (store id, limited, allowed), read with the coupon's lock
    if known is not None and known[0] == store.pk:
        return not known[1] or known[2]
    store_ids = {s.pk for s in template.stores.all()}
    return not store_ids or store.pk in store_ids


def coupon_redeem(
    *, code: str, order: OrderIn, request_no: str, api_key: ApiKey | None = None, now: dt.datetime | None = None
) -> Redeemed:
    """Use the coupon on the order exactly once; a replay of `request_no` returns the first redemption.

    Hand-written statements, as this is what every till waits on. On PostgreSQL, two round trips and no
    transaction to open: read the coupon (with its template, and whether the request number is known), check
    the rules, then one statement marks the coupon — only while it is still issued — takes the order's
    stacking row and writes the ledger, all or nothing. When the coupon changed in between (a concurrent call
    redeemed it, a return made it usable again), it is read again and the rules answer. Elsewhere (SQLite, which
    runs one writer at a time), the same steps under the coupon's lock in a transaction.
    """
    request_no = _request_no(request_no)
    now = now or timezone.now()
    store_id = order.store.pk if order.store else None
    if connection.vendor != "postgresql":
        return _redeem_locked(code=code, order=order, request_no=request_no, api_key=api_key, now=now)
    for _attempt in range(3):
        coupon = _coupon_read(code=code, store_id=store_id, request_no=request_no, lock=False)
        replay = _redemption_replayed(
            request_no=request_no,
            coupon=coupon,
            kind=Redemption.Kind.REDEEM,
            api_key=api_key,
            known=coupon.request_known,
        )
        if replay is not None:
            return replay
        redemption = _redemption_for(coupon=coupon, order=order, request_no=request_no, api_key=api_key, now=now)
        pk = _redemption_write_guarded(
            redemption, exclusive=coupon.template.stacking == CouponTemplate.Stacking.EXCLUSIVE
        )
        if pk is not None:
            redemption.pk = pk
            coupon.status, coupon.redeemed_at = Coupon.Status.REDEEMED, now
            return Redeemed(redemption=redemption, created=True)
    raise _conflict("already_redeemed", "这张券已经使用过了。")


def _redemption_for(
    *, coupon: Coupon, order: OrderIn, request_no: str, api_key: ApiKey | None, now: dt.datetime
) -> Redemption:
    """The ledger row for using `coupon` on `order` now, once the rules allow it (else their error)."""
    quote = coupon_quote(coupon=coupon, order=order, now=now)
    return Redemption(
        request_no=request_no,
        kind=Redemption.Kind.REDEEM,
        coupon=coupon,
        channel=order.channel,
        store=order.store,
        order_ref=order.order_ref,
        amount=order.amount,
        discount=quote.discount,
        credited_associate_id=coupon.associate_id,
        credited_store_id=coupon.store_id,
        api_key=api_key,
        created_at=now,
    )


def _redeem_locked(*, code: str, order: OrderIn, request_no: str, api_key: ApiKey | None, now: dt.datetime) -> Redeemed:
    store_id = order.store.pk if order.store else None
    try:
        with transaction.atomic():
            coupon = _coupon_read(code=code, store_id=store_id, request_no=request_no, lock=True)
            # Under the coupon's lock: a concurrent call with the same request number has committed or not started.
            known = True if coupon.request_known else (None if coupon.status != Coupon.Status.ISSUED else False)
            replay = _redemption_replayed(
                request_no=request_no, coupon=coupon, kind=Redemption.Kind.REDEEM, api_key=api_key, known=known
            )
            if replay is not None:
                return replay
            redemption = _redemption_for(coupon=coupon, order=order, request_no=request_no, api_key=api_key, now=now)
            redemption.pk = _redemption_write(
                redemption, exclusive=coupon.template.stacking == CouponTemplate.Stacking.EXCLUSIVE
            )
            coupon.status, coupon.redeemed_at = Coupon.Status.REDEEMED, now
    except IntegrityError as error:
        raise _conflict("request_no_reused", "这个请求号已用于另一次核销或退回。") from error
    return Redeemed(redemption=redemption, created=True)


# The stacking rule, one upsert on the order's row: a coupon joins an order that holds none, or one whose coupons
# and this one are all combinable. {rows} is the (channel, order_ref, 1, exclusive) to take; no row back = refused.
_ORDER_TAKE = (
    "INSERT INTO {order} AS t (channel, order_ref, coupons, exclusive) {rows} "
    "ON CONFLICT (channel, order_ref) DO UPDATE SET coupons = t.coupons + 1, "
    "exclusive = (t.exclusive OR excluded.exclusive) "
    "WHERE t.coupons = 0 OR NOT (t.exclusive OR excluded.exclusive) RETURNING order_ref"
)
_REDEMPTION_COLUMNS = (
    "request_no, kind, coupon_id, channel, store_id, order_ref, amount, discount, credited_associate_id, "
    "credited_store_id, api_key_id, created_at"
)


def _ledger_params(redemption: Redemption) -> list:
    ops = connection.ops
    return [
        redemption.request_no,
        redemption.kind,
        redemption.coupon_id,
        redemption.channel,
        redemption.store_id,
        redemption.order_ref,
        ops.adapt_decimalfield_value(redemption.amount, 14, 2),
        ops.adapt_decimalfield_value(redemption.discount, 14, 2),
        redemption.credited_associate_id,
        redemption.credited_store_id,
        redemption.api_key_id,
        ops.adapt_datetimefield_value(redemption.created_at),
    ]


def _redemption_write(redemption: Redemption, *, exclusive: bool) -> int:
    """Take the order's stacking row (the coupon joins the order, or not_combinable), mark the coupon redeemed and
    write the ledger row; its id. The caller holds the coupon's lock, inside a transaction."""
    tables = {"order": CouponOrder._meta.db_table, "coupon": Coupon._meta.db_table}
    ledger_params = _ledger_params(redemption)
    placeholders = ", ".join(["%s"] * len(ledger_params))
    with connection.cursor() as cursor:
        cursor.execute(
            _ORDER_TAKE.format(rows="VALUES (%s, %s, 1, %s)", **tables),
            [redemption.channel, redemption.order_ref, exclusive],
        )
        if cursor.fetchone() is None:
            raise _conflict("not_combinable", "这笔订单已使用其他优惠券，这张券不能叠加使用。")
        cursor.execute(
            f"UPDATE {tables['coupon']} SET status = %s, redeemed_at = %s WHERE id = %s",
            [
                Coupon.Status.REDEEMED,
                connection.ops.adapt_datetimefield_value(redemption.created_at),
                redemption.coupon_id,
            ],
        )
        cursor.execute(
            f"INSERT INTO {Redemption._meta.db_table} ({_REDEMPTION_COLUMNS}) VALUES ({placeholders}) RETURNING id",
            ledger_params,
        )
        return cursor.fetchone()[0]


# PostgreSQL: mark the coupon while it is still issued, then — from that row — take the order's stacking row, then
# write the ledger row with the order_ref the stacking row returned. When the order takes no more coupons, that
# order_ref is NULL and the ledger's NOT NULL aborts the whole statement: nothing is marked, nothing is written.
# Prepared (bound server-side): the ids a till may leave NULL are cast.
_REDEEM_GUARDED = (
    "WITH marked AS (UPDATE {coupon} SET status = %s, redeemed_at = %s WHERE id = %s AND status = %s RETURNING id), "
    f"taken AS ({_ORDER_TAKE.replace('{rows}', 'SELECT %s, %s, 1, %s FROM marked')}) "
    "INSERT INTO {ledger} ({columns}) "
    "SELECT %s, %s, %s, %s, CAST(%s AS bigint), (SELECT order_ref FROM taken), %s, %s, "
    "CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS bigint), %s FROM marked RETURNING id"
)


def _redemption_write_guarded(redemption: Redemption, *, exclusive: bool) -> int | None:
    """One statement, all or nothing (PostgreSQL): the ledger row's id, or None when the coupon is no longer issued.
    Its own transaction when none is open; a savepoint inside one, so a refusal leaves the caller's intact."""
    sql = _REDEEM_GUARDED.format(
        coupon=Coupon._meta.db_table,
        order=CouponOrder._meta.db_table,
        ledger=Redemption._meta.db_table,
        columns=_REDEMPTION_COLUMNS,
    )
    ledger = _ledger_params(redemption)
    params = [
        Coupon.Status.REDEEMED,
        connection.ops.adapt_datetimefield_value(redemption.created_at),
        redemption.coupon_id,
        Coupon.Status.ISSUED,
        redemption.channel,
        redemption.order_ref,
        exclusive,
        *ledger[:5],
        *ledger[6:],
    ]
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                written = rawsql.rows(sql, params, prepare=True)
        else:
            written = rawsql.rows(sql, params, prepare=True)
    except IntegrityError as error:
        if getattr(error.__cause__, "sqlstate", "") == _NOT_NULL_VIOLATION:
            raise _conflict("not_combinable", "这笔订单已使用其他优惠券，这张券不能叠加使用。") from error
        raise _conflict("request_no_reused", "这个请求号已用于另一次核销或退回。") from error
    return written[0][0] if written else None


_NOT_NULL_VIOLATION = "23502"


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
    request_no = _request_no(request_no)
    coupon = coupon_by_code(code=code)
    replay = _redemption_replayed(request_no=request_no, coupon=coupon, kind=Redemption.Kind.RETURN, api_key=api_key)
    if replay is not None:
        return replay
    try:
        with transaction.atomic():
            coupon = Coupon.objects.select_for_update(no_key=True).get(pk=coupon.pk)
            replay = _redemption_replayed(
                request_no=request_no, coupon=coupon, kind=Redemption.Kind.RETURN, api_key=api_key
            )
            if replay is not None:
                return replay
            if coupon.status != Coupon.Status.REDEEMED:
                raise _conflict("not_redeemed", "这张券没有被使用，无需退回。")
            used = (
                coupon.redemptions.filter(kind=Redemption.Kind.REDEEM).select_related("api_key").order_by("-pk").first()
            )
            if used.order_ref != order_ref or used.channel != channel or not _key_owns(api_key, used):
                # Another store's or channel's redemption is answered as an unknown order: nothing is revealed.
                raise _conflict("wrong_order", "这张券不是在这笔订单上使用的。")
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
        raise _conflict("request_no_reused", "这个请求号已用于另一次核销或退回。") from error
    return Redeemed(redemption=redemption, created=True)


def coupon_revoke(*, coupon_id: int) -> Coupon:
    """Cancel an unused coupon (sent by mistake, abuse); a used, expired or revoked one is left as it is."""
    if not Coupon.objects.filter(pk=coupon_id, status=Coupon.Status.ISSUED).update(status=Coupon.Status.REVOKED):
        raise _conflict("not_revocable", "只有未使用的券可以作废。")
    return Coupon.objects.get(pk=coupon_id)


# ---------------------------------------------------------------------------------------------------------------
# Nightly jobs


def coupons_expire(*, now: dt.datetime | None = None, batch_size: int = 5000) -> int:
    """Mark issued coupons past their window expired, a batch per transaction; safe to run twice."""
    now = now or timezone.now()
    expired = 0
    while True:
        ids = list(
            Coupon.objects.filter(status=Coupon.Status.ISSUED, valid_until__lte=now).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return expired
        expired += Coupon.objects.filter(pk__in=ids, status=Coupon.Status.ISSUED).update(status=Coupon.Status.EXPIRED)


REMIND_DAYS_BEFORE = 3


def coupons_expiry_remind(*, now: dt.datetime | None = None) -> int:
    """A task for the sending associate when a customer's coupons expire within three days; once per coupon.

    One task per associate, customer and expiry day, so a pack of three coupons makes one task. Returns the
    number of coupons newly covered by a reminder.
    """
    now = now or timezone.now()
    due = Coupon.objects.filter(
        status=Coupon.Status.ISSUED,
        reminded_at__isnull=True,
        associate__isnull=False,
        valid_until__gt=now,
        valid_until__lte=now + dt.timedelta(days=REMIND_DAYS_BEFORE),
    )
    groups: dict[tuple[int, int, dt.date], list[int]] = {}
    for pk, associate_id, customer_id, valid_until in due.values_list(
        "pk", "associate_id", "customer_id", "valid_until"
    ):
        ends = local_day(valid_until - dt.timedelta(microseconds=1))
        groups.setdefault((associate_id, customer_id, ends), []).append(pk)
    with transaction.atomic():
        FollowUpTask.objects.bulk_create(
            [
                FollowUpTask(
                    associate_id=associate_id,
                    customer_id=customer_id,
                    title=f"{len(ids)} 张优惠券 {ends:%m月%d日} 到期，提醒客户使用",
                    due_on=min(ends, local_day(now) + dt.timedelta(days=1)),
                    occasion=f"coupons-expiring:{ends:%Y-%m-%d}",
                )
                for (associate_id, customer_id, ends), ids in groups.items()
            ],
            ignore_conflicts=True,
        )
        ids = [pk for group in groups.values() for pk in group]
        return Coupon.objects.filter(pk__in=ids, reminded_at__isnull=True).update(reminded_at=now)


# ---------------------------------------------------------------------------------------------------------------
# Managers' edits: compare-and-set, never below what is already issued


def coupon_pack_budget_set(*, pack_id: int, expected: Decimal, budget: Decimal) -> CouponPack:
    """Change a pack's budget if it is still `expected` (what the manager saw) and not below what is spent."""
    if budget < 0:
        raise ApplicationError("invalid_budget", "预算不能为负数。")
    if not CouponPack.objects.filter(pk=pack_id, budget=expected, spent__lte=budget).update(budget=budget):
        pack = CouponPack.objects.get(pk=pack_id)
        if pack.budget != expected:
            raise _conflict("stale_budget", f"预算刚被修改为 {pack.budget} 元，请刷新后重试。")
        raise _conflict("budget_below_spent", f"预算不能低于已使用的 {pack.spent} 元。")
    return CouponPack.objects.get(pk=pack_id)


def coupon_template_stock_set(*, template_id: int, expected: int, total_stock: int) -> CouponTemplate:
    """Change a template's stock if it is still `expected` and not below what is already issued."""
    if not CouponTemplate.objects.filter(pk=template_id, total_stock=expected, issued_count__lte=total_stock).update(
        total_stock=total_stock
    ):
        template = CouponTemplate.objects.get(pk=template_id)
        if template.total_stock != expected:
            raise _conflict("stale_stock", f"库存刚被修改为 {template.total_stock} 张，请刷新后重试。")
        raise _conflict("stock_below_issued", f"库存不能低于已发放的 {template.issued_count} 张。")
    return CouponTemplate.objects.get(pk=template_id)


_TEMPLATE_MOVES = {
    CouponTemplate.Status.RUNNING: {CouponTemplate.Status.DRAFT, CouponTemplate.Status.PAUSED},
    CouponTemplate.Status.PAUSED: {CouponTemplate.Status.RUNNING},
    CouponTemplate.Status.STOPPED: {
        CouponTemplate.Status.DRAFT,
        CouponTemplate.Status.RUNNING,
        CouponTemplate.Status.PAUSED,
    },
}
_PACK_MOVES = {
    CouponPack.Status.RUNNING: {CouponPack.Status.PAUSED},
    CouponPack.Status.PAUSED: {CouponPack.Status.RUNNING},
    CouponPack.Status.STOPPED: {CouponPack.Status.RUNNING, CouponPack.Status.PAUSED},
}


def coupon_template_problems(*, template: CouponTemplate) -> list[str]:
    """What keeps a template from being issued, in words for the manager; empty when it is complete."""
    problems = []
    kind = CouponTemplate.Kind
    if template.kind in (kind.AMOUNT_OFF, kind.THRESHOLD) and template.value <= 0:
        problems.append("请填写减免金额。")
    if template.kind == kind.THRESHOLD and template.threshold <= template.value:
        problems.append("满减券的门槛必须大于减免金额。")
    if template.kind == kind.PERCENT_OFF:
        if not 0 < template.value < 100:
            problems.append("折扣券的折扣须在 0 到 100 之间（如 15 表示 85 折）。")
        if not template.max_discount or template.max_discount <= 0:
            problems.append("折扣券必须设置封顶金额。")
    if template.kind == kind.GIFT and not template.gift_product_id:
        problems.append("赠品券必须选择赠品。")
    if template.scope == CouponTemplate.Scope.CATEGORIES and not template.categories:
        problems.append("请填写适用品类。")
    if template.scope == CouponTemplate.Scope.SKUS and template.pk and not template.products.exists():
        problems.append("请选择适用商品。")
    if template.valid_days:
        if template.valid_from or template.valid_until:
            problems.append("固定有效期和领取后有效天数只能二选一。")
    elif not template.valid_until:
        problems.append("请设置有效期：固定有效期或领取后有效天数。")
    elif template.valid_from and template.valid_from >= template.valid_until:
        problems.append("有效期结束必须晚于开始。")
    if any(day not in range(1, 8) for day in template.weekdays or []):
        problems.append("可用星期只能是 1（周一）到 7（周日）。")
    if template.day_starts and template.day_ends and template.day_starts >= template.day_ends:
        problems.append("每日可用结束必须晚于开始。")
    if template.per_customer_limit < 1:
        problems.append("每人限领至少 1 张。")
    return problems


def coupon_template_status_set(*, template_id: int, status: str) -> CouponTemplate:
    """Start, pause, resume or stop issuing a template; stopping is final. Issued coupons stay usable."""
    template = CouponTemplate.objects.get(pk=template_id)
    if status == CouponTemplate.Status.RUNNING and (problems := coupon_template_problems(template=template)):
        raise ApplicationError("template_invalid", " ".join(problems), details=problems)
    sources = _TEMPLATE_MOVES.get(status, set())
    if not CouponTemplate.objects.filter(pk=template_id, status__in=sources).update(status=status):
        raise _conflict("invalid_transition", f"「{template}」当前是{template.get_status_display()}，不能改为该状态。")
    return CouponTemplate.objects.get(pk=template_id)


def coupon_pack_status_set(*, pack_id: int, status: str) -> CouponPack:
    """Pause, resume or stop a pack; stopping is final."""
    sources = _PACK_MOVES.get(status, set())
    if not CouponPack.objects.filter(pk=pack_id, status__in=sources).update(status=status):
        pack = CouponPack.objects.get(pk=pack_id)
        raise _conflict("invalid_transition", f"券包「{pack}」当前是{pack.get_status_display()}，不能改为该状态。")
    return CouponPack.objects.get(pk=pack_id)
