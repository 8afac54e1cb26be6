"""The attribution rule: window edges, last touch, split, the cashier, coupons used in the order, merged customers,
and recomputing a period after a rule change."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from coupons.models import IssueRequest, Redemption
from coupons.redemption import OrderIn
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from customers.models import Channel
from insights.attribution import attribution_config_set, attribution_recompute, attribution_refresh
from insights.models import Attribution, Rule, TouchKind
from suggestions.models import Outreach
from tests.factories import (
    AssociateFactory,
    CouponPackItemFactory,
    CustomerFactory,
    OrderFactory,
    ProductFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db

PLACED = dt.datetime(2026, 5, 20, 6, 0, tzinfo=dt.UTC)
ALL_TIME = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))


@pytest.fixture
def shop():
    store_a, store_b = StoreFactory(name="静安店"), StoreFactory(name="徐汇店")
    return {
        "store_a": store_a,
        "store_b": store_b,
        "lin": AssociateFactory(store=store_a, name="林雨"),
        "wang": AssociateFactory(store=store_b, name="王芳"),
        "customer": CustomerFactory(),
        "product": ProductFactory(),
    }


def _card(shop, associate, at, customer=None) -> Outreach:
    return Outreach.objects.create(
        request_id=uuid.uuid4(),
        associate=associate,
        store=associate.store,
        customer=customer or shop["customer"],
        product=shop["product"],
        source=Outreach.Source.SUGGESTION,
        sent_at=at,
    )


def _online_order(shop, *, at=PLACED, amount="300.00", customer=None, **kwargs):
    return OrderFactory(
        channel=Channel.MINI_PROGRAM,
        store=None,
        customer=customer or shop["customer"],
        placed_at=at,
        total_amount=Decimal(amount),
        **kwargs,
    )


def _recompute():
    return attribution_recompute(start=ALL_TIME[0], end=ALL_TIME[1])


def test_a_touch_exactly_window_days_before_the_order_counts(shop):
    card = _card(shop, shop["lin"], PLACED - dt.timedelta(days=14))
    order = _online_order(shop)

    _recompute()

    (row,) = Attribution.objects.filter(order=order)
    assert (row.associate_id, row.store_id, row.share, row.amount) == (
        shop["lin"].pk,
        shop["store_a"].pk,
        Decimal("1"),
        Decimal("300.00"),
    )
    assert (row.touch_kind, row.touch_id, row.touch_at) == (TouchKind.PRODUCT_CARD, card.pk, card.sent_at)
    assert (row.rule, row.window_days) == (Rule.LAST_TOUCH, 14)


def test_a_touch_a_second_outside_the_window_or_after_the_order_does_not_count(shop):
    _card(shop, shop["lin"], PLACED - dt.timedelta(days=14, seconds=1))
    _card(shop, shop["wang"], PLACED + dt.timedelta(seconds=1))
    order = _online_order(shop)

    _recompute()

    assert not Attribution.objects.filter(order=order).exists()


def test_last_touch_credits_the_latest_touch_of_any_kind(shop):
    _card(shop, shop["lin"], PLACED - dt.timedelta(days=3))
    pack = CouponPackItemFactory().pack
    sent = coupon_pack_send(pack_id=pack.pk, customer_id=shop["customer"].pk, request_no="r1", associate=shop["wang"])
    IssueRequest.objects.filter(pk=sent.request.pk).update(created_at=PLACED - dt.timedelta(days=1))
    order = _online_order(shop)

    _recompute()

    (row,) = Attribution.objects.filter(order=order)
    assert (row.associate_id, row.store_id, row.touch_kind, row.touch_id) == (
        shop["wang"].pk,
        shop["store_b"].pk,
        TouchKind.COUPON_PACK,
        sent.request.pk,
    )


def test_split_shares_the_order_between_associates_in_the_window_each_by_their_latest_touch(shop):
    attribution_config_set(rule=Rule.SPLIT, window_days=7)
    _card(shop, shop["lin"], PLACED - dt.timedelta(days=6))
    lin_latest = _card(shop, shop["lin"], PLACED - dt.timedelta(days=5))
    wang = _card(shop, shop["wang"], PLACED - dt.timedelta(days=2))
    _card(shop, AssociateFactory(), PLACED - dt.timedelta(days=8))  # outside the 7 days
    order = _online_order(shop, amount="100.00")

    _recompute()

    rows = list(Attribution.objects.filter(order=order).order_by("touch_at"))
    assert [(r.associate_id, r.touch_id, r.share, r.amount) for r in rows] == [
        (shop["lin"].pk, lin_latest.pk, Decimal("0.5"), Decimal("50.00")),
        (shop["wang"].pk, wang.pk, Decimal("0.5"), Decimal("50.00")),
    ]
    assert {(r.rule, r.window_days) for r in rows} == {(Rule.SPLIT, 7)}


def test_split_three_ways_sums_exactly_to_the_order(shop):
    attribution_config_set(rule=Rule.SPLIT, window_days=14)
    for n, associate in enumerate([shop["lin"], shop["wang"], AssociateFactory()]):
        _card(shop, associate, PLACED - dt.timedelta(days=n + 1))
    order = _online_order(shop, amount="100.00")

    _recompute()

    rows = Attribution.objects.filter(order=order)
    assert sorted(r.share for r in rows) == [Decimal("0.3333"), Decimal("0.3333"), Decimal("0.3334")]
    assert sum(r.amount for r in rows) == Decimal("100.00")
    assert sum(r.share for r in rows) == Decimal("1")


def test_a_pos_order_keeps_the_cashiers_associate_over_any_touch(shop):
    _card(shop, shop["wang"], PLACED - dt.timedelta(hours=1))
    order = OrderFactory(
        channel=Channel.STORE_POS,
        store=shop["store_a"],
        customer=shop["customer"],
        associate=shop["lin"],
        placed_at=PLACED,
        total_amount=Decimal("88.00"),
    )

    _recompute()

    (row,) = Attribution.objects.filter(order=order)
    assert (row.associate_id, row.store_id, row.touch_kind, row.amount) == (
        shop["lin"].pk,
        shop["store_a"].pk,
        TouchKind.CASHIER,
        Decimal("88.00"),
    )
    order.refresh_from_db()
    assert order.associate_id == shop["lin"].pk  # never rewritten


def test_an_untouched_pos_order_is_the_stores_own_sale_and_an_untouched_online_order_is_nobodys(shop):
    pos = OrderFactory(channel=Channel.STORE_POS, store=shop["store_a"], customer=shop["customer"], placed_at=PLACED)
    online = _online_order(shop)

    _recompute()

    (row,) = Attribution.objects.filter(order=pos)
    assert (row.associate_id, row.store_id, row.touch_kind) == (None, shop["store_a"].pk, TouchKind.STORE)
    assert not Attribution.objects.filter(order=online).exists()


def test_a_coupon_from_an_associates_pack_used_in_the_order_credits_its_sender(shop):
    _card(shop, shop["wang"], PLACED - dt.timedelta(days=1))
    pack = CouponPackItemFactory().pack
    sent = coupon_pack_send(pack_id=pack.pk, customer_id=shop["customer"].pk, request_no="r1", associate=shop["lin"])
    IssueRequest.objects.filter(pk=sent.request.pk).update(created_at=PLACED - dt.timedelta(days=10))
    order = _online_order(shop, amount="320.00", external_id="MP-1")
    # The mall calls redeem a minute after the order's own timestamp.
    redeemed = coupon_redeem(
        code=sent.coupons[0].code,
        order=OrderIn(channel="online", store=None, order_ref="MP-1", amount=Decimal("320.00")),
        request_no="redeem-1",
    )
    redemption = Redemption.objects.get(request_no="redeem-1")
    Redemption.objects.filter(pk=redemption.pk).update(created_at=PLACED + dt.timedelta(minutes=1))
    assert redeemed

    _recompute()

    (row,) = Attribution.objects.filter(order=order)
    assert (row.associate_id, row.touch_kind, row.touch_id, row.touch_at) == (
        shop["lin"].pk,
        TouchKind.COUPON_REDEEM,
        redemption.pk,
        PLACED,
    )


def test_touches_of_a_merged_away_customer_count_for_the_golden_record(shop):
    golden = shop["customer"]
    merged = CustomerFactory(merged_into=golden)
    card = _card(shop, shop["lin"], PLACED - dt.timedelta(days=2), customer=merged)
    order = _online_order(shop, customer=golden)

    _recompute()

    (row,) = Attribution.objects.filter(order=order)
    assert (row.associate_id, row.touch_id, row.customer_id) == (shop["lin"].pk, card.pk, golden.pk)


def test_recomputing_a_period_after_a_rule_change_rewrites_only_that_period(shop):
    _card(shop, shop["lin"], PLACED - dt.timedelta(days=10))
    _card(shop, shop["wang"], PLACED - dt.timedelta(days=1))
    order = _online_order(shop, amount="200.00")
    earlier = _online_order(shop, at=PLACED - dt.timedelta(days=5), amount="50.00")  # only lin touched before it
    _recompute()
    assert list(Attribution.objects.filter(order=order).values_list("associate_id", "share")) == [
        (shop["wang"].pk, Decimal("1"))
    ]

    attribution_config_set(rule=Rule.SPLIT, window_days=3)
    orders, rows = attribution_recompute(start=PLACED - dt.timedelta(hours=1), end=PLACED + dt.timedelta(hours=1))

    assert (orders, rows) == (1, 1)
    # 3 days: lin's touch 10 days before no longer counts; wang's does, alone.
    (row,) = Attribution.objects.filter(order=order)
    assert (row.associate_id, row.share, row.rule, row.window_days) == (shop["wang"].pk, Decimal("1"), Rule.SPLIT, 3)
    (kept,) = Attribution.objects.filter(order=earlier)
    assert (kept.associate_id, kept.rule, kept.window_days) == (shop["lin"].pk, Rule.LAST_TOUCH, 14)

    attribution_config_set(rule=Rule.SPLIT, window_days=14)
    _recompute()
    assert sorted(Attribution.objects.filter(order=order).values_list("associate_id", "share")) == sorted(
        [(shop["lin"].pk, Decimal("0.5")), (shop["wang"].pk, Decimal("0.5"))]
    )
    assert Attribution.objects.count() == 3  # recompute replaces, never adds


def test_the_incremental_refresh_attributes_only_new_orders_and_is_safe_to_repeat(shop):
    _card(shop, shop["lin"], PLACED - dt.timedelta(days=1))
    first = _online_order(shop)
    assert attribution_refresh() == (1, 1)
    second = _online_order(shop, at=PLACED + dt.timedelta(hours=1))

    assert attribution_refresh() == (1, 1)
    assert attribution_refresh() == (0, 0)
    assert set(Attribution.objects.values_list("order_id", flat=True)) == {first.pk, second.pk}
