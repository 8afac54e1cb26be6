"""The audience resolved set-based in SQL (campaigns.services.campaign_resolve) chooses exactly what the Python
resolution it replaced chose: the same customers, the same associate and external_userid, the same skip reasons and
the same chunks, on a varied data set (segments, tiers, tags, caps, opt-outs, merged customers, several associates
per customer, inactive associates, ended friendships) and with many small keyset ranges; and a resolution that dies
between ranges resumes with no duplicate and none missing.

`reference_resolution` is the replaced code path (campaign_audience_ids with segments filtered in Python, then
_choose_follows, _receipts_since and the per-customer loop of campaign_resolve), kept here as the oracle.
"""

import calendar
import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db.models import Count, DecimalField, Max, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from campaigns import constants as K
from campaigns import services
from campaigns.models import Campaign, CampaignChunk, CampaignRecipient
from campaigns.selectors import (
    _COUNTED,
    campaign_audience,
    campaign_audience_count,
    campaign_audience_estimate,
)
from campaigns.services import campaign_resolve
from clientbook.models import FollowRelation
from customers.models import Customer, CustomerTag, Order, Tag
from customers.selectors import customer_segment
from tests.factories import AssociateFactory, StoreFactory, UserFactory

CORP_TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 3, 20, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai: the month began 19 days ago
RS = CampaignRecipient.Status
SKIP = CampaignRecipient.Skip


def reference_resolution(campaign: Campaign, now: dt.datetime) -> tuple[set[tuple], dict[tuple[int, int], int]]:
    """What the replaced Python path wrote: {(customer, associate, external_userid, status, reason, chunk key)} and
    {(associate, index): size}."""
    segments = list(campaign.segments)
    campaign.segments = []  # the filters other than segments are the same SQL as before
    customers = campaign_audience(campaign=campaign, now=now).order_by("pk")
    campaign.segments = segments
    if segments:
        orders = Order.objects.filter(_COUNTED, customer=OuterRef("pk")).order_by().values("customer")
        rows = customers.annotate(
            ref_orders=Subquery(orders.annotate(n=Count("pk")).values("n")),
            ref_spend=Coalesce(
                Subquery(orders.annotate(t=Sum("total_amount")).values("t")),
                Value(Decimal("0")),
                output_field=DecimalField(),
            ),
            ref_last=Subquery(orders.annotate(last=Max("placed_at")).values("last")),
        ).values_list("pk", "ref_orders", "ref_spend", "ref_last")
        ids = [
            pk
            for pk, n, spend, last in rows
            if customer_segment(orders=n or 0, lifetime_spend=spend or Decimal("0"), last_purchase_at=last)
            in set(segments)
        ]
    else:
        ids = list(customers.values_list("pk", flat=True))

    flags = dict(
        (pk, (o, c))
        for pk, o, c in Customer.objects.filter(pk__in=ids).values_list("pk", "opted_out", "marketing_consent")
    )
    primary = dict(Customer.objects.filter(pk__in=ids).values_list("pk", "primary_associate_id"))
    stores = dict(Customer.objects.filter(pk__in=ids).values_list("pk", "primary_store_id"))
    chosen: dict[int, tuple[int, str, int]] = {}
    for customer_id, associate_id, store_id, eu in (
        FollowRelation.objects.filter(customer_id__in=ids, ended_at__isnull=True, associate__is_active=True)
        .order_by("followed_at", "pk")
        .values_list("customer_id", "associate_id", "associate__store_id", "external_userid")
    ):
        rank = 0 if associate_id == primary.get(customer_id) else 1 if store_id == stores.get(customer_id) else 2
        if customer_id not in chosen or rank < chosen[customer_id][2]:
            chosen[customer_id] = (associate_id, eu, rank)

    def receipts_since(since):
        return dict(
            CampaignRecipient.objects.filter(
                customer_id__in=ids, status__in=[RS.QUEUED, RS.AWAITING, RS.SENT], created_at__gte=since
            )
            .exclude(campaign_id=campaign.pk)
            .values("customer_id")
            .annotate(n=Count("pk"))
            .values_list("customer_id", "n")
        )

    per, days = K.frequency_cap()
    week = receipts_since(now - dt.timedelta(days=days))
    local = now.astimezone(CORP_TZ)
    month = receipts_since(local.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    month_cap = K.monthly_cap() or calendar.monthrange(local.year, local.month)[1]

    rows: set[tuple] = set()
    by_associate: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for pk in ids:
        opted_out, consent = flags[pk]
        reason = (
            SKIP.OPTED_OUT
            if opted_out
            else SKIP.NO_CONSENT
            if not consent
            else SKIP.NO_FOLLOWER
            if pk not in chosen
            else SKIP.FREQUENCY_CAP
            if week.get(pk, 0) >= per
            else SKIP.MONTHLY_CAP
            if month.get(pk, 0) >= month_cap
            else ""
        )
        if reason:
            rows.add((pk, chosen.get(pk, (None,))[0], "", RS.SKIPPED, reason, None))
        else:
            by_associate[chosen[pk][0]].append((pk, chosen[pk][1]))
    size = K.chunk_size()
    chunks = {}
    for associate_id, members in by_associate.items():
        for position, (pk, eu) in enumerate(members):
            rows.add((pk, associate_id, eu, RS.QUEUED, "", (associate_id, position // size)))
        for index in range((len(members) + size - 1) // size):
            chunks[associate_id, index] = len(members[index * size : (index + 1) * size])
    return rows, chunks


def resolved_rows(campaign: Campaign) -> tuple[set[tuple], dict[tuple[int, int], int]]:
    rows = {
        (c, a, eu, status, reason, (ca, ci) if ca is not None else None)
        for c, a, eu, status, reason, ca, ci in CampaignRecipient.objects.filter(campaign=campaign).values_list(
            "customer_id",
            "associate_id",
            "external_userid",
            "status",
            "skip_reason",
            "chunk__associate_id",
            "chunk__index",
        )
    }
    chunks = {
        (a, i): n
        for a, i, n in CampaignChunk.objects.filter(campaign=campaign).values_list("associate_id", "index", "size")
    }
    return rows, chunks


def varied_data(rng: random.Random) -> dict:
    """Two stores of the campaign and one outside it; associates (one inactive) in each; 240 customers with orders,
    tags, birthdays, opt-outs and consent drawn at random, some merged away; zero to three friendships each (some
    ended, with associates of any store); earlier campaigns' receipts this week, earlier this month and last month."""
    stores = [StoreFactory(), StoreFactory(), StoreFactory()]
    staff = [AssociateFactory(store=stores[n % 3]) for n in range(9)]
    staff[4].is_active = False
    staff[4].save()
    tags = [Tag.objects.create(name=f"标签{n}") for n in range(3)]
    customers = []
    for n in range(240):
        customers.append(
            Customer.objects.create(
                name=f"顾客{n}",
                primary_store=rng.choice(stores[:2] * 4 + stores[2:]),
                primary_associate=rng.choice([*staff, None]),
                marketing_consent=rng.random() < 0.85,
                opted_out=rng.random() < 0.08,
                birthday=dt.date(1990, rng.randint(1, 12), 10) if rng.random() < 0.5 else None,
            )
        )
    for customer in rng.sample(customers, 20):
        survivor = rng.choice([c for c in customers if c.pk != customer.pk])
        Customer.objects.filter(pk=customer.pk).update(merged_into=survivor)
    for customer in customers:
        for tag in rng.sample(tags, rng.randint(0, 2)):
            CustomerTag.objects.create(customer=customer, tag=tag)
        for k in range(rng.choice([0, 0, 1, 1, 2, 3, 6])):
            Order.objects.create(
                channel="store_pos",
                external_id=f"O{customer.pk}-{k}",
                store=customer.primary_store,
                customer=customer,
                placed_at=NOW - dt.timedelta(days=rng.choice([3, 40, 90, 150, 400]), hours=rng.randint(0, 20)),
                total_amount=Decimal(rng.choice(["99", "450", "1800", "2600", "9000", "25000"])),
                status=rng.choice(["completed"] * 5 + ["cancelled", "returned"]),
            )
        for k, associate in enumerate(rng.sample(staff, rng.choice([0, 1, 1, 2, 3]))):
            FollowRelation.objects.create(
                associate=associate,
                customer=customer,
                external_userid=f"wm{customer.pk:06d}{associate.pk:04d}",
                followed_at=NOW - dt.timedelta(days=rng.randint(1, 3) * 10 + k),
                ended_at=NOW - dt.timedelta(days=1) if rng.random() < 0.15 else None,
            )
    creator = UserFactory()
    for n, days in enumerate([2, 5, 12, 30]):
        when = NOW - dt.timedelta(days=days)
        earlier = Campaign.objects.create(name=f"更早{n}", created_by=creator, status="done", text="x")
        chunk = CampaignChunk.objects.create(campaign=earlier, associate=staff[0], index=0, size=1)
        for customer in rng.sample(customers, 90):
            status = rng.choice([RS.SENT, RS.AWAITING, RS.QUEUED, RS.SKIPPED, RS.NOT_FRIEND])
            CampaignRecipient.objects.create(
                campaign=earlier,
                customer=customer,
                associate=staff[0],
                chunk=None if status == RS.SKIPPED else chunk,
                status=status,
                skip_reason=SKIP.OPTED_OUT if status == RS.SKIPPED else "",
                created_at=when,
            )
    return {"stores": stores, "tags": tags, "creator": creator}


AUDIENCES = [
    {},
    {"segments": ["重要价值", "新客", "潜在客户"]},
    {"segments": ["重要挽回", "流失风险", "一般维护"], "tags": [0]},
    {"tiers": ["金卡", "黑金"]},
    {"tiers": ["普通"], "birthday_month": 6},
    {"last_purchase_after": dt.date(2026, 1, 1), "tags": [1, 2]},
]


@pytest.mark.django_db
@pytest.mark.parametrize("filters", AUDIENCES, ids=[",".join(f) or "everyone" for f in AUDIENCES])
def test_the_set_based_resolution_writes_what_the_python_resolution_chose(settings, filters):
    settings.CAMPAIGN_CHUNK_SIZE = 4
    settings.CAMPAIGN_RESOLVE_RANGE = 13  # many keyset ranges, their edges inside associates' chunks
    settings.CAMPAIGN_FREQUENCY_CAP, settings.CAMPAIGN_FREQUENCY_DAYS = 2, 7
    settings.CAMPAIGN_MONTHLY_CAP = 2
    with time_machine.travel(NOW, tick=False):
        data = varied_data(random.Random(22))
        filters = dict(filters)
        tags = [data["tags"][n] for n in filters.pop("tags", [])]
        campaign = Campaign.objects.create(
            name="对照", created_by=data["creator"], status="sending", text="x", send_at=NOW, **filters
        )
        campaign.stores.set(data["stores"][:2])
        campaign.tags.set(tags)
        expected_rows, expected_chunks = reference_resolution(campaign, NOW)

        resolved = campaign_resolve(campaign_id=campaign.pk, now=NOW)

    rows, chunks = resolved_rows(campaign)
    assert rows == expected_rows
    assert chunks == expected_chunks
    reasons = {row[4] for row in rows}
    assert resolved.recipients == sum(1 for row in rows if row[3] == RS.QUEUED) > 0
    assert resolved.skipped == len(rows) - resolved.recipients
    assert resolved.chunks == len(chunks)
    if not filters and not tags:  # the data set reaches every reason, so each rule above was compared
        assert {SKIP.OPTED_OUT, SKIP.NO_CONSENT, SKIP.NO_FOLLOWER, SKIP.FREQUENCY_CAP, SKIP.MONTHLY_CAP} <= reasons


class Died(Exception):
    pass


@pytest.mark.django_db
def test_a_resolution_killed_between_ranges_resumes_without_duplicates_or_losses(settings, monkeypatch):
    settings.CAMPAIGN_CHUNK_SIZE = 5
    settings.CAMPAIGN_RESOLVE_RANGE = 17
    with time_machine.travel(NOW, tick=False):
        data = varied_data(random.Random(7))
        campaign = Campaign.objects.create(name="续跑", created_by=data["creator"], status="sending", text="x")
        campaign.stores.set(data["stores"][:2])
        expected = reference_resolution(campaign, NOW)
        ranges = {"n": 0}
        resolve_range = services._resolve_range

        def dies_in_the_fourth(**kwargs):
            ranges["n"] += 1
            resolve_range(**kwargs)
            if ranges["n"] == 4:
                raise Died  # inside the range's transaction: its rows roll back

        monkeypatch.setattr(services, "_resolve_range", dies_in_the_fourth)
        with pytest.raises(Died):
            campaign_resolve(campaign_id=campaign.pk, now=NOW)
        written = CampaignRecipient.objects.filter(campaign=campaign).count()
        through = Campaign.objects.get(pk=campaign.pk).resolved_through
        assert 0 < written < len(expected[0])
        assert not CampaignRecipient.objects.filter(campaign=campaign, customer_id__gt=through).exists()
        assert Campaign.objects.get(pk=campaign.pk).resolved_at is None

        monkeypatch.setattr(services, "_resolve_range", resolve_range)
        campaign_resolve(campaign_id=campaign.pk, now=NOW)
        again = campaign_resolve(campaign_id=campaign.pk, now=NOW)

    assert resolved_rows(campaign) == expected
    assert again is None
    assert ranges["n"] == 4


@pytest.mark.django_db
def test_a_chunk_is_not_sent_while_its_campaign_is_still_being_resolved(settings):
    store = StoreFactory()
    associate = AssociateFactory(store=store)
    campaign = Campaign.objects.create(name="进行中", created_by=UserFactory(), status="sending", text="x")
    chunk = CampaignChunk.objects.create(campaign=campaign, associate=associate, index=0, size=1)

    assert services.campaign_chunk_send(chunk_id=chunk.pk) == "skipped"

    assert CampaignChunk.objects.get(pk=chunk.pk).status == "pending"
    assert CampaignChunk.objects.get(pk=chunk.pk).attempts == 0


@pytest.mark.django_db
def test_the_estimate_is_exact_on_small_stores_and_near_the_count_on_large_ones():
    with time_machine.travel(NOW, tick=False):
        data = varied_data(random.Random(3))
        campaign = Campaign.objects.create(name="预估", created_by=data["creator"], text="x", segments=["潜在客户"])
        campaign.stores.set(data["stores"][:2])
        exact = campaign_audience_count(campaign=campaign)

        small = campaign_audience_estimate(campaign=campaign)
        sampled = campaign_audience_estimate(campaign=campaign, sample=64)

    assert (small.count, small.exact) == (exact, True)
    assert exact > 20
    assert not sampled.exact
    assert abs(sampled.count - exact) <= exact * 0.5
