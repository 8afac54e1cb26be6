"""coupon_pack_send: all or nothing, every limit enforced in the database, replays by request number."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from coupons.models import Coupon, CouponPack, CouponTemplate
from coupons.services import coupon_pack_send
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
