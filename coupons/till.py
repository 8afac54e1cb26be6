"""Redeeming a coupon at the till: `coupon_redeem`, and the hand-written statements it runs because every till
waits on it. Its HTTP side (the redeem API's fast dispatch) is `coupons.till_api`.

Each fast piece here has a reference path that decides the same things the plain way; tests/test_till_equivalence.py
runs both on the same inputs (success, every refusal, replays) and compares the answers and the rows written.

- `coupon_read`: one statement reads the coupon with its template, its sender's WeCom userid and store code,
  whether the template may be used at the till's store and whether the request number is in the ledger already.
  Reference: `coupons.redemption.coupon_by_code` (the ORM read validate and return use), `coupon_quote` reading
  the template's stores, `redemption_replayed`'s own existence check, and the answer reading the credited
  associate and store back from the ledger. A template field the rules read must be in `_TEMPLATE_COLUMNS`.
- `coupon_redeem_guarded` (PostgreSQL): no transaction to open; `_REDEEM_GUARDED` marks the coupon only while it
  is still issued, takes the order's stacking row from that and writes the ledger row from that, all or nothing.
  Reference: `coupon_redeem_locked` (any database; SQLite's path), the same writes as three statements under the
  coupon's row lock (`_redemption_write`). The two statements change together: the coupon's columns, the
  stacking rule (`_ORDER_TAKE`) and the ledger's columns (`_REDEMPTION_COLUMNS`, `_ledger_params`).
"""

import dataclasses
import datetime as dt
import json

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from associates.models import Associate, Store
from coupons.models import Coupon, CouponOrder, CouponTemplate, Redemption, code_normalize
from coupons.redemption import Credited, OrderIn, Redeemed, coupon_quote, redemption_replayed
from coupons.refusals import conflict, request_no_clean
from customers.models import ApiKey
from omni import rawsql
from omni.errors import ApplicationError
from omni.rawsql import moment, money

_TEMPLATE_COLUMNS = (
    "id", "name", "kind", "value", "threshold", "max_discount", "gift_product_id", "scope", "categories", "channels",
    "weekdays", "day_starts", "day_ends", "stacking",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class CouponRead:
    """What the till's statement read about a coupon."""

    coupon: Coupon  # with its template
    credited: Credited  # who sent it: a redemption credits them
    # Whether the template may be used at the store asked about (no stores set: every store); None: none asked.
    store_allowed: bool | None
    # Whether the request number is in the ledger, in the statement's snapshot, taken before a lock is granted:
    # True is final, but False only holds while the coupon is still issued (a transaction that held the lock may
    # have redeemed it under this very request number, and committed, while this one waited).
    request_known: bool


def coupon_read(*, code: str, store_id: int | None, request_no: str, lock: bool) -> CouponRead:
    """The coupon by its code, with its template, whether the template allows `store_id` and whether
    `request_no` is in the ledger already, in one statement (the till's hottest path); row-locked when `lock`."""
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
    coupon = Coupon(
        pk=pk,
        code=code,
        status=status,
        valid_from=moment(valid_from),
        valid_until=moment(valid_until),
        associate_id=associate_id,
        store_id=sender_store_id,
        customer_id=customer_id,
        template=CouponTemplate(**values),
    )
    return CouponRead(
        coupon=coupon,
        credited=Credited(associate_userid=userid, store_code=store_code),
        store_allowed=None if store_id is None else not limited or bool(allowed),
        request_known=bool(request_known),
    )


def coupon_redeem(
    *, code: str, order: OrderIn, request_no: str, api_key: ApiKey | None = None, now: dt.datetime | None = None
) -> Redeemed:
    """Use the coupon on the order exactly once; a replay of `request_no` returns the first redemption.

    On PostgreSQL, two round trips and no transaction to open (`coupon_redeem_guarded`); elsewhere (SQLite, which
    runs one writer at a time), the same steps under the coupon's lock in a transaction (`coupon_redeem_locked`).
    """
    request_no = request_no_clean(request_no)
    now = now or timezone.now()
    if connection.vendor != "postgresql":
        return coupon_redeem_locked(code=code, order=order, request_no=request_no, api_key=api_key, now=now)
    return coupon_redeem_guarded(code=code, order=order, request_no=request_no, api_key=api_key, now=now)


def coupon_redeem_guarded(
    *, code: str, order: OrderIn, request_no: str, api_key: ApiKey | None, now: dt.datetime
) -> Redeemed:
    """`coupon_redeem` on PostgreSQL (`request_no` already checked): read the coupon (with its template, and whether
    the request number is known), check the rules, then one statement marks the coupon — only while it is still
    issued — takes the order's stacking row and writes the ledger, all or nothing. When the coupon changed in
    between (a concurrent call redeemed it, a return made it usable again), it is read again and the rules answer.
    """
    store_id = order.store.pk if order.store else None
    for _attempt in range(3):
        read = coupon_read(code=code, store_id=store_id, request_no=request_no, lock=False)
        coupon = read.coupon
        replay = redemption_replayed(
            request_no=request_no,
            coupon=coupon,
            kind=Redemption.Kind.REDEEM,
            api_key=api_key,
            known=read.request_known,
        )
        if replay is not None:
            return replay
        redemption = _redemption_for(read=read, order=order, request_no=request_no, api_key=api_key, now=now)
        pk = _redemption_write_guarded(
            redemption, exclusive=coupon.template.stacking == CouponTemplate.Stacking.EXCLUSIVE
        )
        if pk is not None:
            redemption.pk = pk
            coupon.status, coupon.redeemed_at = Coupon.Status.REDEEMED, now
            return Redeemed(redemption=redemption, created=True, credited=read.credited)
    raise conflict("already_redeemed", "这张券已经使用过了。")


def _redemption_for(
    *, read: CouponRead, order: OrderIn, request_no: str, api_key: ApiKey | None, now: dt.datetime
) -> Redemption:
    """The ledger row for using the coupon on `order` now, once the rules allow it (else their error)."""
    coupon = read.coupon
    quote = coupon_quote(coupon=coupon, order=order, now=now, store_allowed=read.store_allowed)
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


def coupon_redeem_locked(
    *, code: str, order: OrderIn, request_no: str, api_key: ApiKey | None, now: dt.datetime
) -> Redeemed:
    """`coupon_redeem` on any database (`request_no` already checked): the coupon read under its row lock, the
    rules, then the writes of `_REDEEM_GUARDED` as three statements, in one transaction."""
    store_id = order.store.pk if order.store else None
    try:
        with transaction.atomic():
            read = coupon_read(code=code, store_id=store_id, request_no=request_no, lock=True)
            coupon = read.coupon
            # Under the coupon's lock: a concurrent call with the same request number has committed or not started.
            known = True if read.request_known else (None if coupon.status != Coupon.Status.ISSUED else False)
            replay = redemption_replayed(
                request_no=request_no, coupon=coupon, kind=Redemption.Kind.REDEEM, api_key=api_key, known=known
            )
            if replay is not None:
                return replay
            redemption = _redemption_for(read=read, order=order, request_no=request_no, api_key=api_key, now=now)
            redemption.pk = _redemption_write(
                redemption, exclusive=coupon.template.stacking == CouponTemplate.Stacking.EXCLUSIVE
            )
            coupon.status, coupon.redeemed_at = Coupon.Status.REDEEMED, now
    except IntegrityError as error:
        raise conflict("request_no_reused", "这个请求号已用于另一次核销或退回。") from error
    return Redeemed(redemption=redemption, created=True, credited=read.credited)


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
            raise conflict("not_combinable", "这笔订单已使用其他优惠券，这张券不能叠加使用。")
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
            raise conflict("not_combinable", "这笔订单已使用其他优惠券，这张券不能叠加使用。") from error
        raise conflict("request_no_reused", "这个请求号已用于另一次核销或退回。") from error
    return written[0][0] if written else None


_NOT_NULL_VIOLATION = "23502"
