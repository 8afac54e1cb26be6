"""coupon_pack_send: all or nothing, every limit enforced in the database, replays by request number."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from coupons.models import CODE_ALPHABET, Coupon, CouponPack, CouponTemplate, IssueRequest
from coupons.sending import coupon_pack_send
from omni.errors import ApplicationError
from tests.factories import (
    AssociateFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)  # 15:00 in Shanghai


def _pack(**template_fields):
    item = CouponPackItemFactory(template=CouponTemplateFactory(**template_fields), quantity=1)
    return item.pack, item.template


def test_send_issues_every_coupon_of_the_pack_with_its_window():
    pack, template = _pack()
    CouponPackItemFactory(
        pack=pack,
        template=CouponTemplateFactory(kind="amount_off", value=Decimal("20"), threshold=0, per_customer_limit=2),
        quantity=2,
    )
    associate, customer = AssociateFactory(), CustomerFactory()

    sent = coupon_pack_send(pack_id=pack.pk, customer_id=customer.pk, request_no="r-1", associate=associate, now=NOW)

    assert sent.created is True
    assert len(sent.coupons) == 3
    assert Coupon.objects.filter(customer=customer, associate=associate, store=associate.store).count() == 3
    first = Coupon.objects.filter(template=template).get()
    assert timezone.localtime(first.valid_until) == timezone.make_aware(dt.datetime(2026, 12, 20))
    assert first.valid_from == NOW
    assert CouponPack.objects.get(pk=pack.pk).spent == Decimal("90.00")
    assert CouponTemplate.objects.get(pk=template.pk).issued_count == 1


def _counts():
    from coupons.models import CustomerHolding, IssueRequest

    return (
        Coupon.objects.count(),
        IssueRequest.objects.count(),
        CustomerHolding.objects.count(),
        list(CouponTemplate.objects.order_by("pk").values_list("issued_count", flat=True)),
        list(CouponPack.objects.order_by("pk").values_list("spent", flat=True)),
    )


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda pack, template: CouponTemplate.objects.filter(pk=template.pk).update(total_stock=0), "out_of_stock"),
        (
            lambda pack, template: CouponTemplate.objects.filter(pk=template.pk).update(status="paused"),
            "template_unavailable",
        ),
        (lambda pack, template: CouponPack.objects.filter(pk=pack.pk).update(status="paused"), "pack_unavailable"),
        (
            lambda pack, template: CouponPack.objects.filter(pk=pack.pk).update(budget=Decimal("49.99")),
            "budget_exhausted",
        ),
        (lambda pack, template: CouponPack.objects.filter(pk=pack.pk).update(daily_quota=0), "quota_reached"),
        (
            lambda pack, template: CouponTemplate.objects.filter(pk=template.pk).update(per_day_limit=0),
            "daily_limit_reached",
        ),
    ],
)
def test_a_send_refused_by_a_rule_writes_nothing(setup, code):
    pack, template = _pack()
    other = CouponTemplateFactory(kind="amount_off", value=Decimal("5"), threshold=0)
    CouponPackItemFactory(pack=pack, template=other)  # taken before the failing rule in some cases: rolled back
    setup(pack, template)
    pack.refresh_from_db()
    before = _counts()

    with pytest.raises(ApplicationError) as refused:
        coupon_pack_send(
            pack_id=pack.pk, customer_id=CustomerFactory().pk, request_no="r", associate=AssociateFactory(), now=NOW
        )

    assert refused.value.code == code
    assert refused.value.status_code == 409
    assert _counts() == before


def test_the_second_coupon_of_a_pack_over_the_customer_limit_rolls_back_the_first():
    pack, template = _pack()
    limited = CouponTemplateFactory(kind="amount_off", value=Decimal("5"), threshold=0, per_customer_limit=1)
    CouponPackItemFactory(pack=pack, template=limited)
    customer, associate = CustomerFactory(), AssociateFactory()
    other_pack = CouponPackItemFactory(template=limited).pack
    coupon_pack_send(pack_id=other_pack.pk, customer_id=customer.pk, request_no="first", associate=associate, now=NOW)
    before = _counts()

    with pytest.raises(ApplicationError) as refused:
        coupon_pack_send(pack_id=pack.pk, customer_id=customer.pk, request_no="second", associate=associate, now=NOW)

    assert refused.value.code == "limit_reached"
    assert _counts() == before
    assert not Coupon.objects.filter(customer=customer, template=template).exists()


def test_a_replay_returns_the_first_coupons_and_a_reused_number_for_another_send_is_refused():
    pack, _ = _pack()
    customer, associate = CustomerFactory(), AssociateFactory()
    first = coupon_pack_send(pack_id=pack.pk, customer_id=customer.pk, request_no="tap", associate=associate, now=NOW)
    before = _counts()

    again = coupon_pack_send(pack_id=pack.pk, customer_id=customer.pk, request_no="tap", associate=associate, now=NOW)
    with pytest.raises(ApplicationError) as reused:
        coupon_pack_send(pack_id=pack.pk, customer_id=CustomerFactory().pk, request_no="tap", associate=associate)

    assert (again.created, [c.code for c in again.coupons]) == (False, [c.code for c in first.coupons])
    assert (reused.value.code, reused.value.status_code) == ("request_no_reused", 409)
    assert _counts() == before


def test_a_merged_customer_id_issues_to_the_record_it_was_merged_into():
    pack, _ = _pack()
    golden = CustomerFactory()
    merged = CustomerFactory(merged_into=golden)

    sent = coupon_pack_send(pack_id=pack.pk, customer_id=merged.pk, request_no="m", associate=None, now=NOW)

    assert {c.customer_id for c in sent.coupons} == {golden.pk}


def test_codes_are_twelve_characters_without_look_alike_letters_or_digits():
    pack, _ = _pack(per_customer_limit=50)
    CouponPackItem = CouponPackItemFactory._meta.model
    CouponPackItem.objects.filter(pack=pack).update(quantity=50)

    sent = coupon_pack_send(pack_id=pack.pk, customer_id=CustomerFactory().pk, request_no="n", associate=None, now=NOW)

    codes = [c.code for c in sent.coupons]
    assert len(set(codes)) == 50
    assert all(len(code) == 12 and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert not set("".join(codes)) & set("IO01")


@pytest.mark.parametrize(
    ("fields", "starts", "ends"),
    [
        # 3 days from issue at 15:00 on the 20th: the 20th, 21st and 22nd, ending at midnight into the 23rd.
        ({"valid_days": 3}, dt.datetime(2026, 11, 20, 15, 0), dt.datetime(2026, 11, 23)),
        # Starting the next day: from midnight into the 21st, for 3 days.
        ({"valid_days": 3, "valid_delay_days": 1}, dt.datetime(2026, 11, 21), dt.datetime(2026, 11, 24)),
    ],
)
def test_relative_validity_counts_days_in_shanghai(fields, starts, ends):
    pack, _ = _pack(**fields)

    coupon = coupon_pack_send(
        pack_id=pack.pk, customer_id=CustomerFactory().pk, request_no="w", associate=None, now=NOW
    ).coupons[0]

    assert timezone.localtime(coupon.valid_from).replace(tzinfo=None) == starts
    assert timezone.localtime(coupon.valid_until).replace(tzinfo=None) == ends


def test_issuing_at_2359_shanghai_counts_that_day_and_at_midnight_the_next():
    pack, _ = _pack(valid_days=1, per_customer_limit=2)
    customer = CustomerFactory()
    before_midnight = timezone.make_aware(dt.datetime(2026, 11, 20, 23, 59, 59))
    at_midnight = timezone.make_aware(dt.datetime(2026, 11, 21, 0, 0, 0))

    late = coupon_pack_send(
        pack_id=pack.pk, customer_id=customer.pk, request_no="a", associate=None, now=before_midnight
    )
    early = coupon_pack_send(pack_id=pack.pk, customer_id=customer.pk, request_no="b", associate=None, now=at_midnight)

    assert late.coupons[0].valid_until == at_midnight  # one second of validity: "1 day" is the day of issue
    assert early.coupons[0].valid_until == timezone.make_aware(dt.datetime(2026, 11, 22))


def test_a_fixed_window_that_has_ended_is_refused_before_anything_is_written():
    pack, _ = _pack(valid_days=None, valid_until=NOW)

    with pytest.raises(ApplicationError) as refused:
        coupon_pack_send(pack_id=pack.pk, customer_id=CustomerFactory().pk, request_no="e", associate=None, now=NOW)

    assert refused.value.code == "template_ended"
    assert IssueRequest.objects.count() == 0


def test_the_per_day_limit_counts_shanghai_days():
    pack, _ = _pack(per_day_limit=1, per_customer_limit=5)
    customer = CustomerFactory()
    evening = timezone.make_aware(dt.datetime(2026, 11, 20, 23, 0))
    coupon_pack_send(pack_id=pack.pk, customer_id=customer.pk, request_no="d1", associate=None, now=evening)

    with pytest.raises(ApplicationError) as same_day:
        coupon_pack_send(
            pack_id=pack.pk,
            customer_id=customer.pk,
            request_no="d2",
            associate=None,
            now=evening + dt.timedelta(minutes=59),
        )
    next_day = coupon_pack_send(
        pack_id=pack.pk, customer_id=customer.pk, request_no="d3", associate=None, now=evening + dt.timedelta(hours=1)
    )

    assert same_day.value.code == "daily_limit_reached"
    assert next_day.created is True
