"""A customer with one fact for every draft purpose: 陈静 of 上海静安店, served by 林雨 — sizes M (clothes) and 37
(shoes), a dress bought 100 days ago (lapsed), a coupon expiring in 5 days, a hold waiting at 北京国贸店, her birthday
in 3 days, 800 points expiring in 10 days, and a new coat in her size at her store. Around her: another customer of
her store (王芳), another associate (周婷), a store she has nothing to do with (杭州湖滨店), a coupon she does not hold.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from associates.models import Associate, Store
from coupons.models import Coupon
from coupons.sending import coupon_pack_send
from customers.models import Channel, Customer, Identity, Membership, Product, StoreStock
from fulfilment.models import Pickup, PickupLine
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
    StoreStockFactory,
)

EXTERNAL_USERID = "wmDraftsChenJing0000000000000001"


@dataclass
class DraftsWorld:
    store: Store
    hold_store: Store
    far_store: Store
    associate: Associate
    colleague: Associate
    customer: Customer
    neighbour: Customer
    dress: Product
    shoes: Product
    coat: Product
    held: Product
    coupon: Coupon
    hold: Pickup
    today: dt.date


def drafts_world_build() -> DraftsWorld:
    now = timezone.now()
    today = timezone.localdate(now)
    store = StoreFactory(
        code="SH01",
        name="上海静安店",
        city="上海",
        address="上海市静安区南京西路1788号",
        opening_hours="10:00-22:00",
    )
    hold_store = StoreFactory(
        code="BJ01", name="北京国贸店", city="北京", address="北京市朝阳区建国门外大街1号", opening_hours="10:00-21:30"
    )
    far_store = StoreFactory(code="HZ01", name="杭州湖滨店", city="杭州")
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    colleague = AssociateFactory(store=store, wecom_userid="zhouting", name="周婷")
    birthday = (today + dt.timedelta(days=3)).replace(year=1990)
    customer = CustomerFactory(
        name="陈静",
        gender="female",
        birthday=birthday,
        primary_store=store,
        primary_associate=associate,
        phone="+8613812345678",
    )
    IdentityFactory(customer=customer, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=EXTERNAL_USERID)
    IdentityFactory(customer=customer, kind=Identity.Kind.PHONE, value="+8613812345678")
    neighbour = CustomerFactory(name="王芳", gender="female", primary_store=store)

    dress = ProductFactory(
        sku="QM-DR01-BK-M", name="真丝连衣裙 黑色 M", category="dress", size="M", colour="黑色", price="1699.00"
    )
    shoes = ProductFactory(
        sku="QM-SH02-BG-37", name="羊皮乐福鞋 米色 37", category="shoes", size="37", colour="米色", price="1299.00"
    )
    for days, product, price in [(100, dress, "1699.00"), (130, shoes, "1299.00"), (160, dress, "1599.00")]:
        order = OrderFactory(
            customer=customer,
            channel=Channel.STORE_POS,
            store=store,
            placed_at=now - dt.timedelta(days=days),
            total_amount=Decimal(price),
        )
        OrderLineFactory(order=order, line_no=1, product=product, quantity=1, unit_price=Decimal(price))
    # New in her size at her store: the coat (2 of 3 free); not the L, not the fully held M, not the one elsewhere.
    coat = ProductFactory(
        sku="QM-CT05-CA-M", name="双面羊绒大衣 驼色 M", category="coat", size="M", colour="驼色", price="3999.00"
    )
    StoreStockFactory(store=store, product=coat, quantity=3, held=1)
    StoreStockFactory(
        store=store, product=ProductFactory(sku="QM-CT05-CA-L", name="双面羊绒大衣 驼色 L", category="coat", size="L")
    )
    StoreStockFactory(
        store=store,
        product=ProductFactory(sku="QM-KN03-GR-M", name="羊毛开衫 灰色 M", category="knitwear", size="M"),
        quantity=2,
        held=2,
    )
    StoreStockFactory(
        store=far_store,
        product=ProductFactory(sku="QM-SK07-NV-M", name="百褶半身裙 藏青 M", category="skirt", size="M"),
    )
    old = ProductFactory(sku="QM-SH09-WH-M", name="棉质衬衫 白色 M", category="shirt", size="M")
    Product.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=200))
    StoreStockFactory(store=store, product=old)

    held = ProductFactory(
        sku="QM-DR02-RD-M", name="缎面吊带裙 酒红 M", category="dress", size="M", colour="酒红", price="1299.00"
    )
    StoreStock.objects.create(store=hold_store, product=held, quantity=2, held=1)
    expires = timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=2), dt.time(20, 0)))
    hold = Pickup.objects.create(
        kind=Pickup.Kind.HOLD,
        status=Pickup.Status.HELD,
        code="H7K2M9",
        token="drafts-world-hold-token",
        store=hold_store,
        customer=customer,
        associate=associate,
        request_id="drafts-world-hold",
        expires_at=expires,
    )
    PickupLine.objects.create(pickup=hold, product=held, quantity=1)

    template = CouponTemplateFactory(name="秋季满300减50券", valid_days=5)
    pack = CouponPackFactory(name="秋季券包")
    CouponPackItemFactory(pack=pack, template=template)
    coupon = coupon_pack_send(
        pack_id=pack.pk, customer_id=customer.pk, request_no="drafts-world-coupon", associate=associate
    ).coupons[0]
    CouponTemplateFactory(name="尊享满1000减300券", value=Decimal("300.00"), threshold=Decimal("1000.00"))
    Membership.objects.create(
        customer=customer,
        level="金卡",
        points=3200,
        points_expiring=800,
        points_expire_on=today + dt.timedelta(days=10),
    )
    return DraftsWorld(
        store=store,
        hold_store=hold_store,
        far_store=far_store,
        associate=associate,
        colleague=colleague,
        customer=customer,
        neighbour=neighbour,
        dress=dress,
        shoes=shoes,
        coat=coat,
        held=held,
        coupon=coupon,
        hold=hold,
        today=today,
    )
