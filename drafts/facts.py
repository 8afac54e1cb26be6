"""A customer's facts, as the associate may see her: everything a draft may name, and nothing else.

One ID facts only: her name and how to address her, her usual sizes (clientbook's rule: the size she bought most per
family), her last purchases, her open coupons, her open holds, her store, her birthday, the days since her last
purchase, her loyalty standing (customers.Membership, as the loyalty system reported it), and the new arrivals in her
size available at her store (available = quantity − held). The fact checker (`drafts.checker`) allows a draft to
name only what is here; the provider's prompt is these facts and nothing more.
"""

import datetime as dt
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from associates.models import Associate, Store
from clientbook.profile import customer_figures
from coupons.models import Coupon, yuan
from customers.categories import size_family
from customers.models import Customer, Membership, Order, OrderLine, Product, StoreStock
from fulfilment.models import Pickup, PickupLine
from library.selectors import reply_values_get

PURCHASES = 5
ARRIVALS = 3


@dataclass(frozen=True)
class ProductFact:
    sku: str
    name: str
    category: str
    size: str
    colour: str
    price: Decimal


@dataclass(frozen=True)
class PurchaseFact:
    product: ProductFact
    price: Decimal  # what she paid for one
    date: dt.date
    store: str  # the store's name, or the channel's label for an order without a store


@dataclass(frozen=True)
class CouponFact:
    name: str
    rule_text: str  # 满300减50, 8.5折，最多减100元, 立减20元
    amounts: tuple[Decimal, ...]  # value, threshold, cap, and the 折 figure of a percent-off coupon
    threshold_off: tuple[Decimal, Decimal] | None  # 满 X 减 Y: (X, Y)
    expires_on: dt.date


@dataclass(frozen=True)
class HoldFact:
    product: ProductFact
    quantity: int
    store: str
    store_address: str
    store_hours: str
    expires_at: dt.datetime  # local time
    code: str
    status: str


@dataclass(frozen=True)
class StoreFact:
    name: str
    address: str
    opening_hours: str


@dataclass(frozen=True)
class LoyaltyFact:
    level: str
    points: int
    points_expiring: int
    points_expire_on: dt.date | None


@dataclass(frozen=True)
class ArrivalFact:
    product: ProductFact
    available: int  # at her store: quantity − held


@dataclass(frozen=True)
class Facts:
    customer_id: int
    name: str
    salutation: str  # 陈女士, or her name, or 您
    associate: str
    store: StoreFact | None
    sizes: dict[str, str]  # family → size, e.g. {"服装": "M", "鞋": "37"}
    purchases: list[PurchaseFact]
    coupons: list[CouponFact]
    holds: list[HoldFact]
    birthday: dt.date | None
    next_birthday: dt.date | None
    days_since_purchase: int | None
    loyalty: LoyaltyFact | None
    arrivals: list[ArrivalFact]
    today: dt.date
    stores_named: frozenset[str] = field(default_factory=frozenset)  # every store name a fact names

    def products(self) -> list[ProductFact]:
        """Every product a fact names: bought, held, new in her size."""
        return (
            [p.product for p in self.purchases] + [h.product for h in self.holds] + [a.product for a in self.arrivals]
        )

    def prompt_json(self) -> dict:
        """The facts as the provider's prompt gives them: plain JSON, dates ISO, money as strings to the yuan."""

        def plain(value):
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            if isinstance(value, list | tuple | frozenset):
                return [plain(item) for item in value]
            if isinstance(value, Decimal):
                return yuan(value)
            if isinstance(value, dt.datetime):
                return value.strftime("%Y-%m-%d %H:%M")
            if isinstance(value, dt.date):
                return value.isoformat()
            return value

        data = plain(asdict(self))
        for key in ("customer_id", "stores_named"):
            data.pop(key)
        for coupon in data["coupons"]:
            coupon.pop("amounts")
            coupon.pop("threshold_off")
        return data


def _product(product: Product) -> ProductFact:
    return ProductFact(
        sku=product.sku,
        name=product.name,
        category=product.category,
        size=product.size,
        colour=product.colour,
        price=product.price,
    )


def _purchases(customer: Customer) -> list[PurchaseFact]:
    lines = (
        OrderLine.objects.filter(order__customer=customer, quantity__gt=0)
        .exclude(order__status__in=[Order.Status.CANCELLED, Order.Status.RETURNED])
        .select_related("product", "order__store")
        .order_by("-order__placed_at", "order_id", "line_no")[:PURCHASES]
    )
    return [
        PurchaseFact(
            product=_product(line.product),
            price=line.unit_price,
            date=timezone.localdate(line.order.placed_at),
            store=line.order.store.name if line.order.store_id else line.order.get_channel_display(),
        )
        for line in lines
    ]


def _coupon_amounts(coupon: Coupon) -> tuple[Decimal, ...]:
    template = coupon.template
    amounts = [template.value, template.threshold, template.max_discount or Decimal(0)]
    if template.kind == template.Kind.PERCENT_OFF:
        amounts.append((Decimal(100) - template.value) / 10)
    return tuple(amount for amount in amounts if amount)


def _coupons(customer: Customer, now: dt.datetime) -> list[CouponFact]:
    coupons = (
        Coupon.objects.filter(customer=customer, status=Coupon.Status.ISSUED, valid_until__gt=now)
        .select_related("template__gift_product")
        .order_by("valid_until", "pk")
    )
    return [
        CouponFact(
            name=coupon.template.name,
            rule_text=coupon.template.rule_text,
            amounts=_coupon_amounts(coupon),
            threshold_off=(coupon.template.threshold, coupon.template.value)
            if coupon.template.threshold and coupon.template.kind != coupon.template.Kind.PERCENT_OFF
            else None,
            expires_on=timezone.localdate(coupon.valid_until),
        )
        for coupon in coupons
    ]


def _holds(customer: Customer) -> list[HoldFact]:
    lines = (
        PickupLine.objects.filter(
            pickup__customer=customer, pickup__kind=Pickup.Kind.HOLD, pickup__status__in=Pickup.OPEN
        )
        .select_related("product", "pickup__store")
        .order_by("pickup__expires_at", "pk")
    )
    return [
        HoldFact(
            product=_product(line.product),
            quantity=line.quantity,
            store=line.pickup.store.name,
            store_address=line.pickup.store.address,
            store_hours=line.pickup.store.opening_hours,
            expires_at=timezone.localtime(line.pickup.expires_at),
            code=line.pickup.code,
            status=line.pickup.get_status_display(),
        )
        for line in lines
    ]


def _arrivals(*, store: Store | None, sizes: dict[str, str], bought: set[str], now: dt.datetime) -> list[ArrivalFact]:
    if store is None or not sizes:
        return []
    since = now - dt.timedelta(days=settings.OMNI_DRAFTS_NEW_DAYS)
    stock = (
        StoreStock.objects.filter(
            store=store,
            quantity__gt=F("held"),
            product__is_active=True,
            product__created_at__gte=since,
            product__size__in=set(sizes.values()),
        )
        .select_related("product")
        .order_by("-product__created_at", "product__sku")
    )
    arrivals = []
    for row in stock[:200]:
        product = row.product
        if product.sku in bought or sizes.get(size_family(product.category)) != product.size:
            continue
        arrivals.append(ArrivalFact(product=_product(product), available=row.quantity - row.held))
        if len(arrivals) == ARRIVALS:
            break
    return arrivals


def _next_birthday(birthday: dt.date | None, today: dt.date) -> dt.date | None:
    if birthday is None:
        return None
    for year in (today.year, today.year + 1):
        try:
            day = birthday.replace(year=year)
        except ValueError:  # 29 February in a common year: the 28th
            day = dt.date(year, 2, 28)
        if day >= today:
            return day
    return None


def customer_facts_get(*, associate: Associate, customer: Customer, now: dt.datetime | None = None) -> Facts:
    """Her facts for this associate's chat. The caller has checked she is visible to the associate
    (clientbook.selectors.customers_visible)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    figures = customer_figures(customer_id=customer.pk)
    sizes = dict(figures.usual_sizes)
    store = customer.primary_store if customer.primary_store_id else associate.store
    purchases = _purchases(customer)
    holds = _holds(customer)
    membership = Membership.objects.filter(customer=customer).first()
    last = figures.last_purchase_at
    stores_named = {associate.store.name, *(p.store for p in purchases), *(h.store for h in holds)}
    if store is not None:
        stores_named.add(store.name)
    return Facts(
        customer_id=customer.pk,
        name=customer.name.strip(),
        salutation=reply_values_get(associate=associate, customer=customer)["客户称呼"],
        associate=associate.name,
        store=StoreFact(name=store.name, address=store.address, opening_hours=store.opening_hours) if store else None,
        sizes=sizes,
        purchases=purchases,
        coupons=_coupons(customer, now),
        holds=holds,
        birthday=customer.birthday,
        next_birthday=_next_birthday(customer.birthday, today),
        days_since_purchase=(today - timezone.localdate(last)).days if last else None,
        loyalty=LoyaltyFact(
            level=membership.level,
            points=membership.points,
            points_expiring=membership.points_expiring,
            points_expire_on=membership.points_expire_on,
        )
        if membership
        else None,
        arrivals=_arrivals(store=store, sizes=sizes, bought={p.product.sku for p in purchases}, now=now),
        today=today,
        stores_named=frozenset(stores_named),
    )
