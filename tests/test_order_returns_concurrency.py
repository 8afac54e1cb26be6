"""Returns under real concurrency on PostgreSQL: tills in several stores returning the last unit of a line at once,
and one till's retries of one request racing each other."""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest

from customers.ingestion import Scope
from customers.models import Channel, Order, OrderLine
from customers.returns import ReturnIn, ReturnLineIn, order_return_record
from tests.factories import OrderFactory, OrderLineFactory, ProductFactory, StoreFactory
from tests.threads import results_and_codes, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _mall_order(quantity: int) -> Order:
    order = OrderFactory(
        channel=Channel.ONLINE_MALL,
        external_id="MALL-1",
        store=None,
        placed_at=dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC),
        total_amount=Decimal("199.00") * quantity,
    )
    OrderLineFactory(order=order, line_no=1, product=ProductFactory(), quantity=quantity, unit_price=Decimal("199.00"))
    return order


def _request(store, request_no: str) -> ReturnIn:
    return ReturnIn(
        request_no=request_no,
        order_channel=Channel.ONLINE_MALL,
        order_no="MALL-1",
        store=store,
        refund_amount=Decimal("199.00"),
        lines=(ReturnLineIn(line_no=1, quantity=1),),
    )


def test_16_tills_returning_the_last_unit_at_once_record_exactly_one_return():
    order = _mall_order(quantity=1)
    stores = [StoreFactory() for _ in range(4)]
    scope = Scope(channel=Channel.STORE_POS, store_ids=None, source="test")

    results, codes = results_and_codes(
        run_concurrently(
            lambda i: order_return_record(scope=scope, request=_request(stores[i % 4], f"R-{i}")),
            each=range(16),
        )
    )

    assert len(results) == 1 and results[0].created is True
    assert codes == Counter({"over_return": 15})
    (order_return,) = Order.objects.filter(original=order)
    assert order_return.external_id == results[0].order.external_id
    assert OrderLine.objects.filter(original_line__order=order).count() == 1


def test_8_tills_returning_one_of_three_units_each_record_exactly_three():
    order = _mall_order(quantity=3)
    store = StoreFactory()
    scope = Scope(channel=Channel.STORE_POS, store_ids=None, source="test")

    results, codes = results_and_codes(
        run_concurrently(lambda i: order_return_record(scope=scope, request=_request(store, f"R-{i}")), each=range(8))
    )

    assert len(results) == 3
    assert codes == Counter({"over_return": 5})
    assert Order.objects.filter(original=order).count() == 3


def test_16_retries_of_one_return_record_it_once_and_all_answer_it():
    order = _mall_order(quantity=2)
    store = StoreFactory()
    scope = Scope(channel=Channel.STORE_POS, store_ids=None, source="test")

    results, codes = results_and_codes(
        run_concurrently(lambda: order_return_record(scope=scope, request=_request(store, "R-1")), contenders=16)
    )

    assert codes == Counter()
    assert sorted(result.created for result in results) == [False] * 15 + [True]
    assert {result.order.pk for result in results} == {Order.objects.get(original=order).pk}
    assert OrderLine.objects.filter(original_line__order=order).count() == 1
