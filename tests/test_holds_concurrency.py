"""Holds under real concurrency on PostgreSQL (fulfilment.holds): the last units of a size held by many associates at
once, and a till collecting a hold while the expiry beat releases it — each resolved one way, none oversold."""

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from customers.ingestion import api_key_create
from customers.models import Channel, Order, StoreStock
from fulfilment.holds import hold_place, holds_expire
from fulfilment.models import Pickup, PickupEvent
from fulfilment.till import pickup_collect
from tests.factories import AssociateFactory, CustomerFactory, ProductFactory, StoreFactory, StoreStockFactory
from tests.threads import results_and_codes, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_64_threads_holding_the_last_3_units_of_a_size_make_exactly_3_holds():
    store = StoreFactory(code="SH02")
    dress = ProductFactory(sku="QM-DR01-BK-M", size="M", style_code="QM-DR01")
    StoreStockFactory(store=store, product=dress, quantity=3)
    associates = [AssociateFactory(store=store) for _ in range(8)]
    customers = [CustomerFactory(primary_store=store) for _ in range(64)]

    results, codes = results_and_codes(
        run_concurrently(
            lambda i: hold_place(
                associate=associates[i % 8],
                customer=customers[i],
                sku="QM-DR01-BK-M",
                store_code="SH02",
                request_id=f"hold-{i}",
            ),
            each=range(64),
        )
    )

    assert len(results) == 3 and all(r.created for r in results)
    assert codes == Counter({"sold_out": 61})
    assert StoreStock.objects.values_list("quantity", "held").get() == (3, 3)
    assert Pickup.objects.filter(status="held").count() == 3
    assert len({p.code for p in Pickup.objects.all()}) == 3


def test_32_replays_of_one_hold_make_one_hold_and_reserve_once():
    store = StoreFactory(code="SH02")
    dress = ProductFactory(sku="QM-DR01-BK-M")
    StoreStockFactory(store=store, product=dress, quantity=10)
    associate, customer = AssociateFactory(store=store), CustomerFactory(primary_store=store)

    results, codes = results_and_codes(
        run_concurrently(
            lambda: hold_place(
                associate=associate, customer=customer, sku="QM-DR01-BK-M", store_code="SH02", request_id="same"
            ),
            contenders=32,
        )
    )

    assert codes == Counter() and len({r.pickup.pk for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert StoreStock.objects.values_list("quantity", "held").get() == (10, 1)


def _race_setup():
    store = StoreFactory(code="SH02")
    dress = ProductFactory(sku="QM-DR01-BK-M")
    StoreStockFactory(store=store, product=dress, quantity=5)
    associate, customer = AssociateFactory(store=store), CustomerFactory(primary_store=store)
    api_key, _ = api_key_create(name="POS", channel=Channel.STORE_POS, stores=[store], scopes=["pickups"])
    pickups = [
        hold_place(
            associate=associate, customer=customer, sku="QM-DR01-BK-M", store_code="SH02", request_id=f"h{i}", hours=1
        ).pickup
        for i in range(5)
    ]
    return api_key, pickups


def test_collects_racing_the_expiry_beat_resolve_each_hold_one_way_and_log_the_loser():
    api_key, pickups = _race_setup()
    after_hours = timezone.now() + dt.timedelta(hours=2)

    def contender(i):
        if i == 0:
            return holds_expire(now=after_hours)
        pickup = pickups[i - 1]
        return pickup_collect(api_key=api_key, store_code="SH02", code=pickup.code, request_id=f"till-{pickup.pk}")

    outcomes = run_concurrently(contender, each=range(6))
    expired_count = outcomes[0]
    results, codes = results_and_codes(outcomes[1:])

    statuses = Counter(Pickup.objects.values_list("status", flat=True))
    assert statuses["collected"] == len(results) and statuses["expired"] == expired_count
    assert statuses["collected"] + statuses["expired"] == 5
    assert codes == Counter({"pickup_expired": expired_count})
    assert PickupEvent.objects.filter(kind="collect_lost").count() == expired_count
    # Each hold released exactly once: collected units left the shelf, expired ones went back.
    assert StoreStock.objects.values_list("quantity", "held").get() == (5 - len(results), 0)
    assert Order.objects.count() == len(results)


def test_a_collect_holding_its_row_makes_the_expiry_beat_skip_it_and_the_beat_waits_for_nobody():
    api_key, pickups = _race_setup()
    pickup = pickups[0]
    locked, release = threading.Event(), threading.Event()

    def till():
        from django.db import transaction

        try:
            with transaction.atomic():
                # The till's guarded transition has the row; the beat runs meanwhile.
                Pickup.objects.filter(pk=pickup.pk, status__in=Pickup.OPEN).update(updated_at=timezone.now())
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=till)
    thread.start()
    locked.wait(10)
    expired = holds_expire(now=timezone.now() + dt.timedelta(hours=2))
    release.set()
    thread.join()

    assert expired == 4
    assert Pickup.objects.get(pk=pickup.pk).status == "held"
    collected = pickup_collect(api_key=api_key, store_code="SH02", code=pickup.code, request_id="late")
    assert collected.created and StoreStock.objects.values_list("quantity", "held").get() == (4, 0)
