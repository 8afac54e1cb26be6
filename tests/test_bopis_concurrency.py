"""Real threads on PostgreSQL: the orders batch's hook and the beat's sweep taking in the same store-pickup orders
at once make one pickup each; the OMS's ready sent eight times at once makes one task and queues one message."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from clientbook.models import FollowUpTask
from customers.models import Channel, Order
from fulfilment import bopis
from fulfilment.models import Pickup, PickupLine
from notices.models import Notice
from tests.factories import OrderFactory, OrderLineFactory, ProductFactory
from tests.test_bopis import emulator, shop  # noqa: F401 (the fixtures)
from tests.threads import failures, results_and_codes, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _orders(world, count):
    product = ProductFactory(sku="SCARF")
    orders = []
    for n in range(count):
        order = OrderFactory(
            channel=Channel.MINI_PROGRAM,
            external_id=f"MP-RACE-{n}",
            customer=world["chen"],
            store=world["store"],
            status=Order.Status.PAID,
            fulfilment=Order.Fulfilment.STORE_PICKUP,
            placed_at=timezone.now() - timedelta(hours=1),
        )
        OrderLineFactory(order=order, line_no=1, product=product, quantity=1, unit_price=Decimal("10"))
        orders.append(order)
    return orders


def test_eight_intakes_of_the_same_orders_at_once_make_one_pickup_each(shop):  # noqa: F811
    orders = _orders(shop, 20)
    ids = [order.pk for order in orders]

    outcomes = run_concurrently(
        lambda half: (
            bopis.bopis_orders_take_in(order_ids=ids)
            if half
            else bopis.bopis_orders_take_in(since=timezone.now() - timedelta(days=1))
        ),
        each=[True, False] * 4,
    )

    assert failures(outcomes) == []
    assert sorted(pk for created in outcomes for pk in created) == sorted(Pickup.objects.values_list("pk", flat=True))
    assert Pickup.objects.count() == 20
    assert sorted(Pickup.objects.values_list("order_id", flat=True)) == sorted(ids)
    assert PickupLine.objects.count() == 20


def test_the_same_ready_sent_eight_times_at_once_readies_it_once(shop, emulator):  # noqa: F811
    [order] = _orders(shop, 1)
    bopis.bopis_orders_take_in(order_ids=[order.pk])
    queued = []

    outcomes = run_concurrently(
        lambda: bopis.bopis_pickup_ready(
            store_code="SH01",
            channel=Channel.MINI_PROGRAM,
            external_id=order.external_id,
            store_ids=None,
            send_later=queued.append,
        ),
        contenders=8,
    )

    results, codes = results_and_codes(outcomes)
    assert codes == {}
    assert sorted(result.replayed for result in results) == [False] + [True] * 7
    pickup = Pickup.objects.get()
    assert queued == [pickup.pk]
    assert pickup.status == "ready"
    assert FollowUpTask.objects.filter(occasion=f"pickup:{pickup.pk}").count() == 1
    assert Notice.objects.filter(dedupe_key=f"pickup_ready:{pickup.pk}").count() == 1
