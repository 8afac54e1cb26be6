"""Customer 360 reads: exact figures across channels, segments, who sees whom, and constant query counts."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.db.models import DateTimeField, DecimalField, IntegerField, Value
from django.utils import timezone

from associates.selectors import user_id_store_ids
from clientbook.models import FollowRelation
from clientbook.profile import customer_figures, customer_head, customer_lists, customer_orders_page
from clientbook.selectors import customers_visible
from customers.models import Channel, Customer, Order
from customers.selectors import customer_segment, customer_segment_case, customer_tier
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)


def _order(customer, *, channel, days_ago, lines, status=Order.Status.COMPLETED, store=None):
    order = OrderFactory(
        customer=customer,
        channel=channel,
        store=store,
        status=status,
        placed_at=timezone.now() - timedelta(days=days_ago),
    )
    total = Decimal("0")
    for n, (product, quantity, price) in enumerate(lines, start=1):
        OrderLineFactory(order=order, line_no=n, product=product, quantity=quantity, unit_price=Decimal(price))
        total += quantity * Decimal(price)
    order.total_amount = total
    order.save()
    return order


@pytest.mark.django_db
def test_figures_cover_every_channel_and_reverse_returns_and_cancellations():
    store = StoreFactory()
    customer = CustomerFactory()
    dress = ProductFactory(category="dress")
    belt = ProductFactory(category="belt")
    serum = ProductFactory(category="serum")
    _order(
        customer,
        channel=Channel.STORE_POS,
        store=store,
        days_ago=200,
        lines=[(dress, 1, "1699.00"), (belt, 1, "299.00")],
    )
    _order(customer, channel=Channel.MINI_PROGRAM, days_ago=30, lines=[(serum, 2, "420.00")])
    _order(customer, channel=Channel.ONLINE_MALL, days_ago=10, lines=[(belt, 1, "299.00")])
    _order(
        customer, channel=Channel.ONLINE_MALL, days_ago=5, lines=[(dress, 1, "1699.00")], status=Order.Status.RETURNED
    )
    _order(
        customer, channel=Channel.MARKETPLACE, days_ago=2, lines=[(serum, 1, "420.00")], status=Order.Status.CANCELLED
    )
    partial_return = _order(customer, channel=Channel.STORE_POS, store=store, days_ago=1, lines=[(belt, -1, "299.00")])

    figures = customer_figures(customer_id=customer.pk)

    assert figures.lifetime_spend == Decimal("1699.00") + Decimal("299.00") + Decimal("840.00") + Decimal(
        "299.00"
    ) - Decimal("299.00")
    assert figures.orders == 3
    assert figures.returns == 2
    assert figures.average_order_value == (figures.lifetime_spend / 3).quantize(Decimal("0.01"))
    assert figures.last_purchase_at.date() == (timezone.now() - timedelta(days=10)).date()
    assert figures.favourite_categories == ["连衣裙", "精华", "腰带"]
    assert figures.tier == "银卡"
    assert figures.segment == "重要价值"
    assert partial_return.total_amount == Decimal("-299.00")


@pytest.mark.django_db
def test_usual_sizes_are_the_most_bought_kept_size_per_family():
    customer = CustomerFactory()
    dress_m, dress_l = ProductFactory(category="dress", size="M"), ProductFactory(category="dress", size="L")
    coat_m, shoes_37 = ProductFactory(category="coat", size="M"), ProductFactory(category="shoes", size="37")
    shoes_38, serum = ProductFactory(category="shoes", size="38"), ProductFactory(category="serum", size="")
    _order(customer, channel=Channel.STORE_POS, days_ago=90, lines=[(dress_m, 1, "900.00"), (shoes_37, 1, "800.00")])
    _order(customer, channel=Channel.ONLINE_MALL, days_ago=60, lines=[(coat_m, 1, "2000.00"), (dress_l, 1, "900.00")])
    _order(customer, channel=Channel.MINI_PROGRAM, days_ago=30, lines=[(serum, 3, "400.00")])
    # A returned pair of 38s and a cancelled pair say nothing about what fits.
    for status in (Order.Status.RETURNED, Order.Status.CANCELLED):
        _order(customer, channel=Channel.ONLINE_MALL, days_ago=20, lines=[(shoes_38, 2, "800.00")], status=status)

    figures = customer_figures(customer_id=customer.pk)

    assert figures.usual_sizes == [("服装", "M"), ("鞋", "37")]
    assert figures.favourite_categories == ["大衣", "连衣裙", "精华"]


@pytest.mark.django_db
def test_a_customer_without_orders_has_zero_figures():
    figures = customer_figures(customer_id=CustomerFactory().pk)

    assert (figures.lifetime_spend, figures.orders, figures.average_order_value) == (Decimal("0"), 0, Decimal("0.00"))
    assert (figures.tier, figures.segment, figures.favourite_categories) == ("普通", "潜在客户", [])
    assert figures.usual_sizes == []


def test_tiers_and_segments():
    now = timezone.now()

    assert customer_tier(lifetime_spend=Decimal("25000")) == "黑金"
    assert customer_tier(lifetime_spend=Decimal("8000")) == "金卡"
    assert customer_tier(lifetime_spend=Decimal("1999.99")) == "普通"
    assert customer_segment(orders=1, lifetime_spend=Decimal("300"), last_purchase_at=now) == "新客"
    assert (
        customer_segment(orders=6, lifetime_spend=Decimal("900"), last_purchase_at=now - timedelta(days=200))
        == "重要挽回"
    )
    assert (
        customer_segment(orders=2, lifetime_spend=Decimal("300"), last_purchase_at=now - timedelta(days=200))
        == "流失风险"
    )
    assert customer_segment(orders=2, lifetime_spend=Decimal("300"), last_purchase_at=now) == "一般维护"


@pytest.mark.django_db
def test_the_sql_segment_answers_as_customer_segment_on_every_combination():
    """customer_segment_case (audiences filtered in the database) against customer_segment (one customer)."""
    now = timezone.now()
    CustomerFactory()
    cases = list(
        itertools.product(
            [None, 0, 1, 2, 5],
            [Decimal("0"), Decimal("1999.99"), Decimal("2000"), Decimal("9000")],
            [None, now - timedelta(days=3), now - timedelta(days=119), now - timedelta(days=121)],
        )
    )
    with time_machine.travel(now, tick=False):
        expected = [customer_segment(orders=n or 0, lifetime_spend=s, last_purchase_at=last) for n, s, last in cases]
        answered = [
            Customer.objects.annotate(
                n=Value(n, output_field=IntegerField()),
                s=Value(s, output_field=DecimalField()),
                last=Value(last, output_field=DateTimeField()),
                segment=customer_segment_case(orders="n", lifetime_spend="s", last_purchase_at="last", now=now),
            )
            .values_list("segment", flat=True)
            .get()
            for n, s, last in cases
        ]

    assert answered == expected
    assert set(expected) == {"潜在客户", "新客", "重要挽回", "重要价值", "流失风险", "一般维护"}


@pytest.mark.django_db
def test_an_associate_sees_their_store_and_their_followers_only():
    store_a, store_b = StoreFactory(), StoreFactory()
    associate = AssociateFactory(store=store_a)
    own = CustomerFactory(primary_store=store_a)
    follower_elsewhere = CustomerFactory(primary_store=store_b)
    stranger = CustomerFactory(primary_store=store_b)
    former_follower = CustomerFactory(primary_store=store_b)
    merged = CustomerFactory(primary_store=store_a, merged_into=own)
    FollowRelation.objects.create(
        associate=associate, customer=follower_elsewhere, external_userid="wm1", followed_at=timezone.now()
    )
    FollowRelation.objects.create(
        associate=associate,
        customer=former_follower,
        external_userid="wm2",
        followed_at=timezone.now(),
        ended_at=timezone.now(),
    )

    visible = set(customers_visible(viewer=associate).values_list("pk", flat=True))

    assert visible == {own.pk, follower_elsewhere.pk}
    assert stranger.pk not in visible and merged.pk not in visible


@pytest.mark.django_db
def test_managers_see_their_stores_and_hq_sees_all():
    store_a, store_b = StoreFactory(), StoreFactory()
    a, b = CustomerFactory(primary_store=store_a), CustomerFactory(primary_store=store_b)
    manager = UserFactory(username="m")
    store_a.managers.add(manager)
    hq = UserFactory(username="hq")
    hq.user_permissions.add(Permission.objects.get(codename="view_all_stores"))

    assert set(customers_visible(viewer=manager).values_list("pk", flat=True)) == {a.pk}
    assert set(
        customers_visible(viewer=UserFactory(username="hq2", is_superuser=True)).values_list("pk", flat=True)
    ) == {a.pk, b.pk}
    assert set(customers_visible(viewer=hq).values_list("pk", flat=True)) == {a.pk, b.pk}


def _history(customer, orders, product):
    for n in range(orders):
        _order(
            customer, channel=Channel.ONLINE_MALL, days_ago=n % 300, lines=[(product, 1, "10.00"), (product, 2, "5.00")]
        )


@pytest.mark.django_db
@pytest.mark.parametrize("orders", [1, 500])
def test_the_profile_reads_take_the_same_queries_for_1_or_500_orders(django_assert_num_queries, orders):
    customer, product = CustomerFactory(), ProductFactory()
    _history(customer, orders, product)

    with django_assert_num_queries(3):
        customer_figures(customer_id=customer.pk)
        customer_lists(customer_id=customer.pk)
        page = customer_orders_page(customer_id=customer.pk, limit=10)
    assert sum(len(order["lines"]) for order in page) == 2 * min(orders, 10)
    assert all(order["lines"][0]["sku"] == product.sku for order in page)


@pytest.mark.django_db
def test_a_store_manager_in_the_sidebar_sees_every_store_they_manage():
    store_a, store_b, store_c = StoreFactory(), StoreFactory(), StoreFactory()
    user = UserFactory(username="mgr")
    store_a.managers.add(user)
    store_b.managers.add(user)
    manager = AssociateFactory(store=store_a, role="store_manager", user=user)
    a, b, c = (CustomerFactory(primary_store=store) for store in (store_a, store_b, store_c))

    assert set(customers_visible(viewer=manager).values_list("pk", flat=True)) == {a.pk, b.pk}
    assert c.pk not in set(customers_visible(viewer=AssociateFactory(store=store_a)).values_list("pk", flat=True))


@pytest.mark.django_db
def test_the_sidebar_sql_sees_exactly_whom_customers_visible_sees():
    """customer_head (SQL) and customers_visible (ORM) are built from one scope; hold them to one answer."""
    store_a, store_b, store_c = StoreFactory(), StoreFactory(), StoreFactory()
    manager_user, hq_user = UserFactory(username="mgr"), UserFactory(username="hq", is_superuser=True)
    store_a.managers.add(manager_user)
    store_b.managers.add(manager_user)
    associate, colleague = AssociateFactory(store=store_a), AssociateFactory(store=store_b)
    viewers = [
        associate,
        colleague,
        AssociateFactory(store=store_c, role="store_manager", user=manager_user),
        AssociateFactory(store=store_c, role="store_manager", user=hq_user),
        manager_user,
        hq_user,
    ]
    customers = [CustomerFactory(primary_store=store) for store in (store_a, store_b, store_c, None)]
    follower = CustomerFactory(primary_store=store_c)
    FollowRelation.objects.create(
        associate=associate, customer=follower, external_userid="wm_f", followed_at=timezone.now()
    )
    ended = CustomerFactory(primary_store=store_c)
    FollowRelation.objects.create(
        associate=associate, customer=ended, external_userid="wm_e", followed_at=timezone.now(), ended_at=timezone.now()
    )
    merged = CustomerFactory(primary_store=store_a, merged_into=customers[0])
    everyone = [*customers, follower, ended, merged]

    for viewer in viewers:
        orm = set(customers_visible(viewer=viewer).values_list("pk", flat=True))
        sql = {c.pk for c in everyone if customer_head(viewer=viewer, customer_id=c.pk) is not None}
        assert sql == orm, viewer
    assert {c.pk for c in everyone if customer_head(viewer=associate, customer_id=c.pk)} == {
        customers[0].pk,
        follower.pk,
    }


@pytest.mark.django_db
def test_store_scope_follows_djangos_permission_rules():
    store_a, store_b = StoreFactory(), StoreFactory()
    hq_permission = Permission.objects.get(codename="view_all_stores", content_type__app_label="associates")
    hq_group = Group.objects.create(name="总部")
    hq_group.permissions.add(hq_permission)
    direct, via_group, manager, nobody = (UserFactory(username=name) for name in ("d", "g", "m", "n"))
    direct.user_permissions.add(hq_permission)
    via_group.groups.add(hq_group)
    store_a.managers.add(manager, direct)
    store_b.managers.add(manager)
    superuser = UserFactory(username="root", is_superuser=True)

    scopes = {user.username: user_id_store_ids(user_id=user.pk) for user in (direct, via_group, manager, nobody)}

    assert scopes == {"d": None, "g": None, "m": frozenset({store_a.pk, store_b.pk}), "n": frozenset()}
    assert user_id_store_ids(user_id=superuser.pk) is None
    for user in (direct, via_group, manager, nobody, superuser):
        assert (user_id_store_ids(user_id=user.pk) is None) == user.has_perm("associates.view_all_stores")
