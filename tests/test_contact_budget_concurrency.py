"""The contact budget under concurrency, on PostgreSQL with real threads: associates sending to one customer at once
cannot together pass the week's limit, and a campaign resolving while they send shares the same counter."""

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.services import campaign_resolve
from clientbook.models import FollowRelation
from customers.budget import contact_budget_spend
from customers.models import ContactBudget, ContactCount, ContactTouch
from omni.errors import ApplicationError
from tests.factories import AssociateFactory, CustomerFactory, StoreFactory, UserFactory
from tests.threads import failures, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
COUPON = ContactTouch.Channel.COUPON


def _refusals(outcomes) -> list[str]:
    return [o.code for o in failures(outcomes) if isinstance(o, ApplicationError)]


def test_eight_associates_sending_at_once_get_exactly_the_limit():
    store = StoreFactory()
    staff = [AssociateFactory(store=store) for _ in range(8)]
    customer = CustomerFactory(primary_store=store, marketing_consent=True)
    ContactBudget.objects.create(store=None, per_week=3)

    outcomes = run_concurrently(
        lambda associate: contact_budget_spend(
            customer_id=customer.pk, associate=associate, channel=COUPON, key=f"send-{associate.pk}"
        ),
        each=staff,
    )

    assert len([o for o in outcomes if not isinstance(o, Exception)]) == 3
    assert _refusals(outcomes) == ["contact_budget_exceeded"] * 5
    assert len(failures(outcomes)) == 5  # nothing else failed
    assert ContactCount.objects.get(customer=customer).used == 3
    assert ContactTouch.objects.filter(customer=customer).count() == 3


def test_the_same_send_retried_at_once_is_charged_once():
    store = StoreFactory()
    associate = AssociateFactory(store=store)
    customer = CustomerFactory(primary_store=store)

    outcomes = run_concurrently(
        lambda: contact_budget_spend(customer_id=customer.pk, associate=associate, channel=COUPON, key="same"),
        contenders=6,
    )

    assert failures(outcomes) == []
    assert len({o.touch.pk for o in outcomes}) == 1
    assert ContactCount.objects.get(customer=customer).used == 1


def test_a_campaign_resolving_while_associates_send_shares_the_weeks_limit():
    store = StoreFactory()
    staff = [AssociateFactory(store=store) for _ in range(4)]
    ContactBudget.objects.create(store=None, per_week=2)
    customers = [
        CustomerFactory(primary_store=store, primary_associate=staff[0], marketing_consent=True) for _ in range(20)
    ]
    for n, customer in enumerate(customers):
        FollowRelation.objects.create(
            associate=staff[0], customer=customer, external_userid=f"wm{n:030d}", followed_at=timezone.now()
        )
    campaign = Campaign.objects.create(
        name="会员日", text="到店有礼", send_at=timezone.now(), created_by=UserFactory(), status=Campaign.Status.SENDING
    )
    campaign.stores.add(store)
    # Each customer: two associates' 1:1 sends race the campaign for a limit of 2.
    jobs = ["campaign"] + [(associate, customer) for customer in customers for associate in staff[:2]]

    def attempt(job):
        if job == "campaign":
            return campaign_resolve(campaign_id=campaign.pk)
        associate, customer = job
        return contact_budget_spend(
            customer_id=customer.pk, associate=associate, channel=COUPON, key=f"{associate.pk}-{customer.pk}"
        )

    outcomes = run_concurrently(attempt, each=jobs)

    assert set(_refusals(outcomes)) <= {"contact_budget_exceeded"}
    assert len(failures(outcomes)) == len(_refusals(outcomes))
    queued = set(
        CampaignRecipient.objects.filter(campaign=campaign)
        .exclude(status=CampaignRecipient.Status.SKIPPED)
        .values_list("customer_id", flat=True)
    )
    for customer in customers:
        used = ContactCount.objects.get(customer=customer).used
        touches = ContactTouch.objects.filter(customer=customer).count()
        assert used <= 2
        assert used == touches + (customer.pk in queued)
