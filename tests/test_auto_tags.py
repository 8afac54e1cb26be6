"""Auto-tag rules tag exactly the customers their SQL selects — checked against the same rule computed in Python over
the same rows — then follow the data (a new order, a cancelled one, a rule switched off), record which rule set each
tag, keep hand-made tags, and run on the events that change them. On SQLite and on PostgreSQL."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign
from campaigns.selectors import campaign_audience
from clientbook.models import FollowRelation
from communities.models import Community, GroupChat, GroupMember
from coupons.models import Coupon
from customers.ingestion import api_key_create
from customers.models import AutoTagRule, Channel, Customer, CustomerTag, Order, Tag
from customers.selectors import customer_segment
from customers.tags_rules import auto_tag_rule_apply, auto_tag_rules_apply, auto_tags_refresh
from customers.tasks import auto_tags_apply_task
from tests.factories import (
    AssociateFactory,
    CouponTemplateFactory,
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)

CATEGORIES = ("dress", "shoes", "serum")


def _world(seed=7, customers=60):
    """Customers with random orders: categories, amounts, statuses and dates spread across the rule's edges."""
    rng = random.Random(seed)
    store = StoreFactory(code="SH01")
    products = {c: ProductFactory(category=c) for c in CATEGORIES}
    now = timezone.now()
    people = [CustomerFactory(primary_store=store) for _ in range(customers)]
    for person in people:
        for _ in range(rng.randint(0, 8)):
            category = rng.choice(CATEGORIES)
            price = Decimal(rng.choice(["99.00", "399.00", "899.00", "1599.00"]))
            order = OrderFactory(
                customer=person,
                store=store,
                placed_at=now - dt.timedelta(days=rng.randint(0, 400), hours=rng.randint(0, 23)),
                status=rng.choice([Order.Status.COMPLETED] * 4 + [Order.Status.CANCELLED, Order.Status.RETURNED]),
                total_amount=price,
            )
            OrderLineFactory(order=order, line_no=1, product=products[category], unit_price=price)
    survivor = people[1]
    Customer.objects.filter(pk=people[0].pk).update(merged_into=survivor)  # a merged record is never tagged
    return store, people, now


def _python_purchase(rule: AutoTagRule, now) -> set[int]:
    """The purchase rule as its admin help says, over the rows read back one by one."""
    counted = [
        o
        for o in Order.objects.prefetch_related("lines__product")
        if o.customer_id and o.status not in (Order.Status.CANCELLED, Order.Status.RETURNED)
    ]
    picked = set()
    for customer in Customer.objects.filter(merged_into__isnull=True):
        mine = [o for o in counted if o.customer_id == customer.pk]
        window = [
            o
            for o in mine
            if (not rule.within_days or o.placed_at >= now - dt.timedelta(days=rule.within_days))
            and (not rule.category or any(line.product.category == rule.category for line in o.lines.all()))
        ]
        if rule.category or rule.within_days or rule.min_orders or rule.min_spend is not None:
            if len(window) < max(rule.min_orders or 1, 1):
                continue
            if rule.min_spend is not None and sum(o.total_amount for o in window) < rule.min_spend:
                continue
        if rule.segment:
            segment = customer_segment(
                orders=len(mine),
                lifetime_spend=sum((o.total_amount for o in mine), Decimal("0")),
                last_purchase_at=max((o.placed_at for o in mine), default=None),
            )
            if segment != rule.segment:
                continue
        picked.add(customer.pk)
    return picked


def _tagged(rule: AutoTagRule) -> set[int]:
    return set(CustomerTag.objects.filter(tag=rule.tag).values_list("customer_id", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "criteria",
    [
        {"category": "dress", "min_spend": Decimal("1000"), "min_orders": 2, "within_days": 365},
        {"min_orders": 3},
        {"within_days": 30},
        {"segment": "重要价值"},
        {"segment": "流失风险", "category": "serum"},
    ],
    ids=["category-spend-frequency-recency", "frequency", "recency", "rfm-segment", "segment-and-category"],
)
def test_a_purchase_rule_tags_exactly_the_customers_its_sql_selects(criteria):
    _, _, now = _world()
    tag = Tag.objects.create(name="规则标签")
    rule = AutoTagRule.objects.create(name="规则", kind=AutoTagRule.Kind.PURCHASE, tag=tag, **criteria)
    expected = _python_purchase(rule, now)

    added, removed = auto_tag_rule_apply(rule=rule, now=now)

    assert _tagged(rule) == expected
    assert (added, removed) == (len(expected), 0)
    assert expected, "the world should give the rule someone to tag"
    assert set(CustomerTag.objects.filter(tag=tag).values_list("source", "rule_id")) == {
        (CustomerTag.Source.RULE, rule.pk)
    }
    rule.refresh_from_db()
    assert (rule.last_count, rule.last_run_at) == (len(expected), now)


@pytest.mark.django_db
def test_the_rule_follows_the_data_keeps_hand_tags_and_an_inactive_rule_takes_its_tags_back():
    _, people, now = _world(seed=11)
    tag = Tag.objects.create(name="高频")
    rule = AutoTagRule.objects.create(name="高频", kind=AutoTagRule.Kind.PURCHASE, tag=tag, min_orders=3)
    auto_tag_rule_apply(rule=rule, now=now)
    first = _python_purchase(rule, now)
    leaving = sorted(first)[0]
    joining = next(p.pk for p in people[2:] if p.pk not in first)
    by_hand = sorted(first)[1]
    CustomerTag.objects.filter(customer_id=by_hand, tag=tag).update(source=CustomerTag.Source.MANUAL, rule=None)

    Order.objects.filter(customer_id=leaving).update(status=Order.Status.CANCELLED)
    for _ in range(3):
        OrderFactory(customer_id=joining, placed_at=now - dt.timedelta(days=1))
    Order.objects.filter(customer_id=by_hand).update(status=Order.Status.CANCELLED)
    added, removed = auto_tag_rule_apply(rule=rule, now=now)

    expected = _python_purchase(rule, now)
    assert (leaving in expected, joining in expected, by_hand in expected) == (False, True, False)
    assert _tagged(rule) == expected | {by_hand}  # the hand-made tag stays: no rule set it
    assert (added, removed) == (1, 1)
    assert CustomerTag.objects.get(customer_id=joining, tag=tag).rule_id == rule.pk

    AutoTagRule.objects.filter(pk=rule.pk).update(active=False)
    auto_tags_apply_task.delay()
    assert _tagged(rule) == {by_hand}


@pytest.mark.django_db
def test_code_community_and_coupon_rules_and_a_campaign_targets_their_tag():
    store = StoreFactory(code="SH01")
    associate = AssociateFactory(store=store)
    scanned, joined, redeemed, other = (CustomerFactory(primary_store=store) for _ in range(4))
    for n, customer in enumerate([scanned, other]):
        FollowRelation.objects.create(
            associate=associate,
            customer=customer,
            external_userid=f"wm{n:030d}",
            followed_at=timezone.now(),
            state="STORE-SH01" if customer == scanned else "OTHER",
        )
    chat = GroupChat.objects.create(chat_id="wrChat0001", name="静安福利群")
    community = Community.objects.create(store=store, name="静安会员俱乐部")
    community.chats.add(chat)
    GroupMember.objects.create(chat=chat, userid="wm-joined", member_type=2, customer=joined, is_member=True)
    GroupMember.objects.create(chat=chat, userid="wm-left", member_type=2, customer=other, is_member=False)
    template = CouponTemplateFactory()
    now = timezone.now()
    for customer, status in [(redeemed, Coupon.Status.REDEEMED), (other, Coupon.Status.ISSUED)]:
        Coupon.objects.create(
            code=f"C{customer.pk:08d}",
            template=template,
            issue_request_id=1,
            customer=customer,
            valid_from=now,
            valid_until=now + dt.timedelta(days=30),
            status=status,
            issued_at=now,
            redeemed_at=now if status == Coupon.Status.REDEEMED else None,
        )
    rules = {
        kind: AutoTagRule.objects.create(name=kind, kind=kind, tag=Tag.objects.create(name=kind), **fields)
        for kind, fields in [
            (AutoTagRule.Kind.CODE, {"code_state": "STORE-SH01"}),
            (AutoTagRule.Kind.COMMUNITY, {"community_id": community.pk}),
            (AutoTagRule.Kind.COUPON, {"coupon_template_id": template.pk}),
        ]
    }

    auto_tag_rules_apply()

    assert _tagged(rules["code"]) == {scanned.pk}
    assert _tagged(rules["community"]) == {joined.pk}
    assert _tagged(rules["coupon"]) == {redeemed.pk}
    campaign = Campaign.objects.create(name="社群专享", text="hi", created_by=UserFactory())
    campaign.stores.add(store)
    campaign.tags.add(rules["community"].tag, rules["coupon"].tag)
    assert set(campaign_audience(campaign=campaign).values_list("pk", flat=True)) == {joined.pk, redeemed.pk}

    # She leaves the group: the join callback's refresh (for her only) takes the tag back.
    GroupMember.objects.filter(customer=joined).update(is_member=False)
    assert auto_tags_refresh(customer_ids=[joined.pk], kinds=[AutoTagRule.Kind.COMMUNITY]) == 1
    assert _tagged(rules["community"]) == set()


@pytest.mark.django_db
def test_an_order_ingested_through_the_api_tags_its_customer_at_once(django_capture_on_commit_callbacks):
    store = StoreFactory(code="SH01")
    ProductFactory(sku="DRESS-1", category="dress")
    tag = Tag.objects.create(name="连衣裙买家")
    rule = AutoTagRule.objects.create(name="连衣裙", kind=AutoTagRule.Kind.PURCHASE, tag=tag, category="dress")
    _, secret = api_key_create(name="POS", channel=Channel.STORE_POS)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    order = {
        "external_id": "P1",
        "placed_at": timezone.now().isoformat(),
        "store": store.code,
        "customer": {"phone": "13812345678"},
        "lines": [{"sku": "DRESS-1", "quantity": 1, "unit_price": "899.00"}],
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/orders/batch", {"orders": [order]}, format="json")

    assert response.status_code == 200, response.content
    buyer = Order.objects.get(external_id="P1").customer
    assert list(CustomerTag.objects.filter(tag=tag).values_list("customer_id", "rule_id")) == [(buyer.pk, rule.pk)]
