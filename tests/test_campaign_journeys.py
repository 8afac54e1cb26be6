"""Journeys: birthday, post-purchase and lapsing follow-up tasks, per store's settings, never twice per occasion."""

import datetime as dt
from decimal import Decimal

import pytest

from campaigns.models import JourneyConfig
from campaigns.services import journeys_run
from clientbook.models import FollowUpTask
from customers.models import Order
from tests.factories import AssociateFactory, CustomerFactory, StoreFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


def _order(customer, associate, days_ago):
    return Order.objects.create(
        channel="store_pos",
        external_id=f"O{customer.pk}-{days_ago}",
        store=customer.primary_store,
        customer=customer,
        associate=associate,
        placed_at=NOW - dt.timedelta(days=days_ago),
        total_amount=Decimal("100"),
    )


def test_each_journey_makes_one_task_per_occasion_however_often_it_runs():
    store = StoreFactory()
    associate = AssociateFactory(store=store)
    birthday = CustomerFactory(primary_store=store, primary_associate=associate, birthday=dt.date(1990, 11, 22))
    bought = CustomerFactory(primary_store=store, primary_associate=associate)
    lapsed = CustomerFactory(primary_store=store, primary_associate=associate)
    order = _order(bought, associate, 7)
    _order(lapsed, associate, 90)
    JourneyConfig.objects.create(store=store, birthday_days_before=3, post_purchase_days=7, lapsing_days=90)

    first = journeys_run(now=NOW)
    again = journeys_run(now=NOW + dt.timedelta(hours=1))

    assert (first.birthday, first.post_purchase, first.lapsing) == (1, 1, 1)
    assert (again.birthday, again.post_purchase, again.lapsing) == (0, 0, 0)
    occasions = dict(FollowUpTask.objects.values_list("customer_id", "occasion"))
    assert occasions == {
        birthday.pk: "birthday:2026",
        bought.pk: f"post_purchase:{order.pk}",
        lapsed.pk: "lapsing:20260822",
    }
    assert set(FollowUpTask.objects.values_list("associate_id", flat=True)) == {associate.pk}


def test_a_store_can_turn_journeys_off():
    store = StoreFactory()
    associate = AssociateFactory(store=store)
    CustomerFactory(primary_store=store, primary_associate=associate, birthday=dt.date(1990, 11, 21))
    customer = CustomerFactory(primary_store=store, primary_associate=associate)
    _order(customer, associate, 7)
    JourneyConfig.objects.create(store=store, birthday=False, post_purchase_days=None, lapsing_days=None)

    made = journeys_run(now=NOW)

    assert (made.birthday, made.post_purchase, made.lapsing) == (0, 0, 0)
    assert FollowUpTask.objects.count() == 0


def test_the_demo_seed_makes_one_draft_campaign_per_store_once():
    from campaigns.models import Campaign
    from demo.campaigns import campaigns_demo_seed
    from tests.factories import UserFactory

    StoreFactory(), StoreFactory()
    creator = UserFactory()

    first = campaigns_demo_seed(creator=creator)
    again = campaigns_demo_seed(creator=creator)

    assert first == {"journey_configs": 2, "campaigns": 2} and again == {"journey_configs": 0, "campaigns": 0}
    assert set(Campaign.objects.values_list("status", flat=True)) == {"draft"}
