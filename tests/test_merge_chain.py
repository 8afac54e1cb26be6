"""Merged customers have one rule (`customers.selectors.customer_survivor_ids`): a record stands for the record at
the end of its chain of merges, however long. A chain of three merges, made by `customer_merge`, read by every
reader that follows merges: the daily figures, attribution, the suggestions' order lines, coupons, One ID and
identity claims, the sidebar's profile."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db.models import Value

from clientbook.profile import customer_head
from coupons.sending import coupon_pack_send
from customers.models import Channel, Customer, Identity, IdentityClaim
from customers.selectors import (
    CustomerSurvivorId,
    customer_record_ids,
    customer_survivor,
    customer_survivor_ids,
)
from customers.services import (
    customer_merge,
    customer_resolve,
    identity_claim_confirm,
    identity_claim_create,
    identity_claim_is_contact,
)
from insights.attribution import attribution_recompute
from insights.models import Attribution, DailyStats, TouchKind
from insights.stats import daily_stats_refresh
from omni.errors import ApplicationError
from sidebar.coupon_offers import sidebar_customer_coupons
from suggestions.models import Outreach
from suggestions.services import suggestion_model_build
from tests.factories import (
    AssociateFactory,
    CouponPackItemFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 5, 20)
AT = dt.datetime(2026, 5, 20, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.fixture
def chain():
    """A, B, C and D, each with activity of their own, then A merged into B, B into C, C into D: D survives.
    Lin sent A a suggested product at AT, which A bought two hours later; A holds a coupon; A's contact claimed
    a phone nobody holds."""
    store = StoreFactory()
    lin = AssociateFactory(store=store, name="林雨")
    a, b, c, d = (CustomerFactory(primary_store=store) for _ in range(4))
    product = ProductFactory()
    Outreach.objects.create(
        request_id=uuid.uuid4(),
        associate=lin,
        store=store,
        customer=a,
        product=product,
        source=Outreach.Source.SUGGESTION,
        sent_at=AT,
    )
    order = OrderFactory(
        channel=Channel.MINI_PROGRAM,
        store=None,
        customer=a,
        placed_at=AT + dt.timedelta(hours=2),
        total_amount=Decimal("199.00"),
    )
    OrderLineFactory(order=order, product=product)
    pack = CouponPackItemFactory(quantity=1, template__per_customer_limit=5).pack
    held = coupon_pack_send(pack_id=pack.pk, customer_id=a.pk, request_no="before", associate=lin).coupons[0]
    claim = identity_claim_create(customer=a, associate=lin, phone="+8613900009999")
    IdentityFactory(customer=a, kind=Identity.Kind.POS_MEMBER_NO, value="M-A")
    for source, target in ((a, b), (b, c), (c, d)):
        customer_merge(source=Customer.objects.get(pk=source.pk), target=Customer.objects.get(pk=target.pk))
    return {
        "store": store,
        "lin": lin,
        "a": a,
        "b": b,
        "c": c,
        "d": d,
        "product": product,
        "order": order,
        "pack": pack,
        "held": held,
        "claim": claim,
    }


def test_the_merge_service_made_a_chain_of_three(chain):
    a, b, c, d = (Customer.objects.get(pk=chain[k].pk) for k in "abcd")

    assert (a.merged_into_id, b.merged_into_id, c.merged_into_id, d.merged_into_id) == (b.pk, c.pk, d.pk, None)


def test_every_record_of_the_chain_stands_for_the_survivor(chain):
    a, b, c, d = (chain[k].pk for k in "abcd")

    assert customer_survivor_ids(customer_ids=[a, b, c, d]) == {a: d, b: d, c: d, d: d}
    assert customer_survivor_ids() == {a: d, b: d, c: d}
    assert customer_survivor(customer_id=a).pk == d
    assert set(
        Customer.objects.filter(pk__in=[a, b, c, d]).annotate(s=CustomerSurvivorId("pk")).values_list("s", flat=True)
    ) == {d}
    assert customer_record_ids(customer_id=b) == [d, a, b, c]


def test_a_suggestion_sent_three_merges_before_counts_as_bought_in_the_daily_figures(chain):
    # given the order, moved by the merges onto D, and Lin's suggestion to A
    attribution_recompute(start=AT - dt.timedelta(days=1), end=AT + dt.timedelta(days=1))

    # when
    daily_stats_refresh(start=DAY, end=DAY)

    # then the suggestion was bought, and the order is Lin's
    lin = DailyStats.objects.get(day=DAY, associate=chain["lin"])
    assert (lin.suggestions_sent, lin.suggestions_bought) == (1, 1)
    assert (lin.orders, lin.gmv) == (Decimal("1"), Decimal("199.00"))


def test_a_touch_of_the_first_record_earns_the_survivors_order(chain):
    attribution_recompute(start=AT - dt.timedelta(days=1), end=AT + dt.timedelta(days=1))

    (row,) = Attribution.objects.filter(order=chain["order"])
    assert (row.associate_id, row.customer_id, row.touch_kind) == (
        chain["lin"].pk,
        chain["d"].pk,
        TouchKind.PRODUCT_CARD,
    )


def test_the_suggestions_model_reads_an_order_left_on_a_merged_record_as_the_survivors(chain):
    # given an order a till reported late under B's id, on the day of A's order (now D's)
    late = OrderFactory(customer=chain["b"], placed_at=chain["order"].placed_at)
    OrderLineFactory(order=late, product=ProductFactory())

    build = suggestion_model_build()

    # then the two orders are one basket: one person, one day
    assert (build.lines, build.baskets) == (2, 1)


def test_coupons_follow_the_chain_both_ways(chain):
    d = chain["d"]

    sent = coupon_pack_send(pack_id=chain["pack"].pk, customer_id=chain["a"].pk, request_no="after", associate=None)

    assert {coupon.customer_id for coupon in sent.coupons} == {d.pk}
    assert {coupon.pk for coupon in sidebar_customer_coupons(customer_id=d.pk)} == {
        chain["held"].pk,
        *(coupon.pk for coupon in sent.coupons),
    }
    assert [coupon.pk for coupon in sidebar_customer_coupons(customer_id=chain["c"].pk)] == [
        coupon.pk for coupon in sidebar_customer_coupons(customer_id=d.pk)
    ]


def test_one_id_resolves_the_first_records_member_number_to_the_survivor(chain):
    resolved = customer_resolve(identities=[(Identity.Kind.POS_MEMBER_NO, "M-A")], source="pos")

    assert (resolved.customer.pk, resolved.created) == (chain["d"].pk, False)


def test_an_identity_claim_on_the_first_record_completes_on_the_survivor(chain):
    claim, d = chain["claim"], chain["d"]
    assert identity_claim_is_contact(claim=claim, customer=d)
    assert identity_claim_is_contact(claim=claim, customer=chain["c"])
    assert not identity_claim_is_contact(claim=claim, customer=CustomerFactory())

    identity_claim_confirm(claim=claim, via=IdentityClaim.Via.MANAGER, actor=UserFactory(is_superuser=True))

    phone = Identity.objects.get(kind=Identity.Kind.PHONE, value="+8613900009999")
    assert phone.customer_id == d.pk
    assert IdentityClaim.objects.get(pk=claim.pk).status == IdentityClaim.Status.CONFIRMED


def test_the_sidebar_profile_shows_the_survivor_and_hides_the_merged_records(chain):
    hq = UserFactory(is_superuser=True)

    assert customer_head(viewer=hq, customer_id=chain["d"].pk).name == chain["d"].name
    assert [customer_head(viewer=hq, customer_id=chain[k].pk) for k in "abc"] == [None, None, None]


def test_a_cycle_the_merge_service_cannot_make_leaves_each_id_standing_for_itself():
    # given two records pointing at each other, written past the service
    x, y = CustomerFactory(), CustomerFactory()
    Customer.objects.filter(pk=x.pk).update(merged_into=y)
    Customer.objects.filter(pk=y.pk).update(merged_into=x)

    assert customer_survivor_ids(customer_ids=[x.pk, y.pk]) == {x.pk: x.pk, y.pk: y.pk}
    assert Customer.objects.filter(pk=CustomerSurvivorId(Value(y.pk))).get().pk == y.pk
    assert sorted(customer_record_ids(customer_id=x.pk)) == sorted([x.pk, y.pk])


def test_an_unknown_customer_has_no_survivor():
    assert customer_survivor_ids(customer_ids=[987654]) == {}
    assert customer_survivor(customer_id=987654) is None
    with pytest.raises(ApplicationError) as raised:
        customer_record_ids(customer_id=987654)
    assert raised.value.code == "customer_not_found"
