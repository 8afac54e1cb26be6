"""factory_boy factories for Omni's models."""

from datetime import UTC, datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from associates.models import Associate, Store
from customers.models import Channel, Customer, Identity, Order, OrderLine, Product, StoreStock


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.django.Password("pass-1234")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.Sequence(lambda n: f"门店{n}")
    city = "上海"


class AssociateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Associate

    wecom_userid = factory.Sequence(lambda n: f"assoc{n}")
    name = factory.Sequence(lambda n: f"导购{n}")
    store = factory.SubFactory(StoreFactory)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"顾客{n}")


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    customer = factory.SubFactory(CustomerFactory)
    kind = Identity.Kind.POS_MEMBER_NO
    value = factory.Sequence(lambda n: f"M{n:08d}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU{n:05d}")
    name = factory.Sequence(lambda n: f"商品{n}")
    category = "dress"
    price = Decimal("199.00")


class StoreStockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoreStock

    store = factory.SubFactory(StoreFactory)
    product = factory.SubFactory(ProductFactory)
    quantity = 10


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    channel = Channel.STORE_POS
    external_id = factory.Sequence(lambda n: f"ORD{n:08d}")
    store = factory.SubFactory(StoreFactory)
    customer = factory.SubFactory(CustomerFactory)
    placed_at = datetime(2026, 5, 1, 4, 0, tzinfo=UTC)


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    line_no = factory.Sequence(lambda n: n + 1)
    product = factory.SubFactory(ProductFactory)
    quantity = 1
    unit_price = Decimal("199.00")


class CouponTemplateFactory(factory.django.DjangoModelFactory):
    """A running 满300减50 template valid 30 days from issue, stock 1,000, one per customer."""

    class Meta:
        model = "coupons.CouponTemplate"

    name = factory.Sequence(lambda n: f"满300减50 #{n}")
    kind = "threshold"
    value = Decimal("50.00")
    threshold = Decimal("300.00")
    valid_days = 30
    total_stock = 1000
    per_customer_limit = 1
    status = "running"


class CouponPackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "coupons.CouponPack"

    name = factory.Sequence(lambda n: f"新客券包 #{n}")
    budget = Decimal("100000.00")
    daily_quota = 50


class CouponPackItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "coupons.CouponPackItem"

    pack = factory.SubFactory(CouponPackFactory)
    template = factory.SubFactory(CouponTemplateFactory)
    quantity = 1
