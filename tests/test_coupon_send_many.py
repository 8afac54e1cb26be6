"""coupon_pack_send_many, the campaign path: whole packs per customer, limits, stock and budget, and re-runs."""

import datetime as dt
from decimal import Decimal

import pytest

from coupons.models import Coupon, CouponPack, CouponTemplate, CustomerHolding, IssueRequest
from coupons.sending import coupon_pack_send
from coupons.sending_many import coupon_pack_send_many
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)


def _three_coupon_pack(**scarce_fields):
    pack = CouponPackFactory(budget=Decimal("1000000"))
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(**scarce_fields))
    CouponPackItemFactory(
        pack=pack,
        template=CouponTemplateFactory(kind="amount_off", value=Decimal("10"), threshold=0, per_customer_limit=2),
        quantity=2,
    )
    return pack


def test_every_customer_gets_the_whole_pack_credited_to_their_associate():
    pack = _three_coupon_pack()
    associate = AssociateFactory()
    customers = [CustomerFactory().pk for _ in range(7)]

    result = coupon_pack_send_many(
        pack_id=pack.pk,
        recipients=[(c, associate.pk) for c in customers],
        request_prefix="cmp-1",
        now=NOW,
        batch_size=3,
    )

    assert (result.issued, result.replayed, result.skipped) == (7, 0, {})
    assert Coupon.objects.count() == 21
    assert set(Coupon.objects.values_list("associate_id", "store_id")) == {(associate.pk, associate.store_id)}
    assert sorted(IssueRequest.objects.values_list("request_no", flat=True)) == sorted(f"cmp-1:{c}" for c in customers)
    assert set(IssueRequest.objects.values_list("source", flat=True)) == {"campaign"}
    assert sorted(CouponTemplate.objects.values_list("issued_count", flat=True)) == [7, 14]
    assert CouponPack.objects.get(pk=pack.pk).spent == Decimal("490.00")
    assert sorted(CustomerHolding.objects.values_list("issued", flat=True)) == [1] * 7 + [2] * 7


def test_running_a_campaign_again_issues_only_to_those_not_yet_served():
    pack = _three_coupon_pack()
    first = [CustomerFactory().pk for _ in range(3)]
    coupon_pack_send_many(pack_id=pack.pk, recipients=[(c, None) for c in first], request_prefix="cmp", now=NOW)
    later = CustomerFactory().pk

    result = coupon_pack_send_many(
        pack_id=pack.pk, recipients=[(c, None) for c in [*first, later]], request_prefix="cmp", now=NOW
    )

    assert (result.issued, result.replayed) == (1, 3)
    assert Coupon.objects.count() == 12


def test_stock_serves_whole_packs_in_order_and_says_who_was_left_out():
    pack = _three_coupon_pack(total_stock=4)
    customers = [CustomerFactory().pk for _ in range(6)]

    result = coupon_pack_send_many(
        pack_id=pack.pk, recipients=[(c, None) for c in customers], request_prefix="s", now=NOW, batch_size=4
    )

    assert (result.issued, result.skipped) == (4, {"out_of_stock": 2})
    assert set(Coupon.objects.values_list("customer_id", flat=True)) == set(customers[:4])
    assert Coupon.objects.count() == 12


def test_customers_over_the_per_customer_limit_are_skipped_and_others_served():
    pack = _three_coupon_pack()
    already = CustomerFactory()
    single = CouponPackItemFactory(template=pack.items.order_by("pk").first().template).pack
    coupon_pack_send(pack_id=single.pk, customer_id=already.pk, request_no="earlier", associate=None, now=NOW)
    fresh = CustomerFactory()

    result = coupon_pack_send_many(
        pack_id=pack.pk, recipients=[(already.pk, None), (fresh.pk, None)], request_prefix="l", now=NOW
    )

    assert (result.issued, result.skipped) == (1, {"limit_reached": 1})
    assert Coupon.objects.filter(customer=already).count() == 1


def test_the_budget_caps_a_campaign():
    pack = _three_coupon_pack()
    CouponPack.objects.filter(pk=pack.pk).update(budget=Decimal("150.00"))  # 70 a pack: two packs

    result = coupon_pack_send_many(
        pack_id=pack.pk, recipients=[(CustomerFactory().pk, None) for _ in range(5)], request_prefix="b", now=NOW
    )

    assert (result.issued, result.skipped) == (2, {"budget_exhausted": 3})
    assert CouponPack.objects.get(pk=pack.pk).spent == Decimal("140.00")


def test_a_paused_pack_issues_nothing():
    pack = _three_coupon_pack()
    CouponPack.objects.filter(pk=pack.pk).update(status="paused")

    result = coupon_pack_send_many(
        pack_id=pack.pk, recipients=[(CustomerFactory().pk, None)], request_prefix="p", now=NOW
    )

    assert (result.issued, result.skipped) == (0, {"pack_unavailable": 1})
    assert Coupon.objects.count() == 0 and IssueRequest.objects.count() == 0


@pytest.mark.postgres
def test_a_batch_inside_the_callers_transaction_leaves_its_constraints_deferred():
    """The optimistic batch checks its own rows' keys at once (SET CONSTRAINTS ALL IMMEDIATE) and must hand the
    caller's transaction back deferred, as Django runs it: a delete later in that transaction whose cascade removes
    the referencing rows after the referenced one (a tag group before its tags) would otherwise fail."""
    from django.db import transaction

    from customers.models import Tag, TagGroup

    pack = _three_coupon_pack()
    associate = AssociateFactory()
    customers = [CustomerFactory().pk for _ in range(3)]
    with transaction.atomic():
        result = coupon_pack_send_many(
            pack_id=pack.pk, recipients=[(c, associate.pk) for c in customers], request_prefix="cmp-d", now=NOW
        )
        group = TagGroup.objects.create(name="风格")
        Tag.objects.create(name="通勤", group=group.name, tag_group=group)
        # A row pointing at nothing yet, mended before commit: legal only while the checks are deferred.
        Tag.objects.create(name="度假", group="", tag_group_id=10**9)
        Tag.objects.filter(name="度假").update(tag_group=group)
        group.delete()

    assert result.issued == 3
    assert not Tag.objects.exists()
