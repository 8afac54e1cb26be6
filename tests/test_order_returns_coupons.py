"""Coupons used on returned lines come back or not by their template's rule (restore_on_return), through the
coupon return of the till's ledger, once however often the order return is replayed."""

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from coupons.models import Coupon, CouponTemplate, Redemption
from coupons.redemption import OrderIn, OrderLineIn
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from customers.ingestion import api_key_create
from customers.models import Channel
from tests.factories import (
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db

Rule = CouponTemplate.RestoreOnReturn


@pytest.fixture
def world():
    customer = CustomerFactory()
    dress, belt = ProductFactory(sku="DRESS-1", category="连衣裙"), ProductFactory(sku="BELT-1", category="配饰")
    order = OrderFactory(
        channel=Channel.ONLINE_MALL,
        external_id="MALL-1",
        store=None,
        customer=customer,
        placed_at=dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC),
        total_amount=Decimal("1247.00"),
    )
    OrderLineFactory(order=order, line_no=1, product=dress, quantity=1, unit_price=Decimal("899.00"), discount=50)
    OrderLineFactory(order=order, line_no=2, product=belt, quantity=2, unit_price=Decimal("199.00"))
    store = StoreFactory(code="XH01")
    _, secret = api_key_create(name="POS", channel=Channel.STORE_POS, stores=[store])
    pos = APIClient()
    pos.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return {"customer": customer, "belt": belt, "pos": pos}


def _used_coupon(world, rule, products=(), **template) -> Coupon:
    """A coupon of a template with `rule`, sent to the customer and redeemed on the mall order."""
    item = CouponPackItemFactory(template=CouponTemplateFactory(restore_on_return=rule, **template))
    item.template.products.set(products)
    sent = coupon_pack_send(
        pack_id=item.pack_id, customer_id=world["customer"].pk, request_no=f"send-{item.pk}", associate=None
    )
    coupon = sent.coupons[0]
    coupon_redeem(
        code=coupon.code,
        order=OrderIn(
            channel="online",
            store=None,
            order_ref="MALL-1",
            amount=Decimal("1247.00"),
            lines=(
                OrderLineIn(sku="DRESS-1", amount=Decimal("849.00")),
                OrderLineIn(sku="BELT-1", amount=Decimal("398")),
            ),
        ),
        request_no=f"redeem-{item.pk}",
    )
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.REDEEMED
    return coupon


def _return(world, request_no, line_no, refund):
    response = world["pos"].post(
        "/api/v1/orders/returns",
        {
            "request_no": request_no,
            "order_no": "MALL-1",
            "order_channel": "online_mall",
            "store": "XH01",
            "refund_amount": refund,
            "lines": [{"line_no": line_no, "quantity": 1}],
        },
        format="json",
    )
    assert response.status_code in (200, 201), response.json()
    return response


def _status(coupon) -> str:
    coupon.refresh_from_db()
    return coupon.status


def test_a_coupon_restored_on_any_return_comes_back_once(world):
    coupon = _used_coupon(world, Rule.ANY_RETURNED)

    _return(world, "R-1", 2, "199.00")
    _return(world, "R-1", 2, "199.00")  # replay

    assert _status(coupon) == Coupon.Status.ISSUED
    (restored,) = Redemption.objects.filter(coupon=coupon, kind=Redemption.Kind.RETURN)
    assert (restored.order_ref, restored.channel) == ("MALL-1", "online")
    # A second return of the same order finds it already back, and leaves it so.
    _return(world, "R-2", 2, "199.00")
    assert Redemption.objects.filter(coupon=coupon, kind=Redemption.Kind.RETURN).count() == 1


def test_a_coupon_whose_template_says_never_stays_used(world):
    coupon = _used_coupon(world, Rule.NEVER)

    _return(world, "R-1", 1, "849.00")
    _return(world, "R-2", 2, "199.00")
    _return(world, "R-3", 2, "199.00")

    assert _status(coupon) == Coupon.Status.REDEEMED
    assert not Redemption.objects.filter(coupon=coupon, kind=Redemption.Kind.RETURN).exists()


def test_a_coupon_restored_when_all_its_lines_are_returned_waits_for_the_last_unit(world):
    coupon = _used_coupon(world, Rule.ALL_RETURNED, products=[world["belt"]], threshold=Decimal("0"), scope="skus")

    _return(world, "R-1", 1, "849.00")  # the dress: not a line the coupon applies to
    assert _status(coupon) == Coupon.Status.REDEEMED
    _return(world, "R-2", 2, "199.00")  # one belt of two
    assert _status(coupon) == Coupon.Status.REDEEMED

    _return(world, "R-3", 2, "199.00")  # the last belt

    assert _status(coupon) == Coupon.Status.ISSUED


def test_a_coupon_on_other_lines_is_not_restored_by_a_return_of_lines_it_does_not_apply_to(world):
    coupon = _used_coupon(world, Rule.ANY_RETURNED, threshold=Decimal("0"), scope="categories", categories=["连衣裙"])

    _return(world, "R-1", 2, "199.00")
    assert _status(coupon) == Coupon.Status.REDEEMED

    _return(world, "R-2", 1, "849.00")
    assert _status(coupon) == Coupon.Status.ISSUED


@pytest.mark.django_db
def test_restore_on_return_is_editable_in_admin(admin_client):
    template = CouponTemplateFactory()

    page = admin_client.get(f"/admin/coupons/coupontemplate/{template.pk}/change/").content.decode()

    assert 'name="restore_on_return"' in page and "任一适用商品退货即退回" in page
