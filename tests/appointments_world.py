"""A store with appointment slots, an associate, a customer with an open hold: shared by the appointments tests.

The hold is made directly with the fulfilment models and StoreStock.held (the hold service is built elsewhere)."""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from django.db.models import F
from django.utils import timezone

from appointments.models import Kind, SlotTemplate
from clientbook.models import FollowRelation
from customers.models import Identity, StoreStock
from fulfilment.models import Pickup, PickupLine
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    IdentityFactory,
    ProductFactory,
    StoreFactory,
    StoreStockFactory,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Tuesday 8 December 2026, 10:30 in Shanghai: tomorrow (Wednesday) has the store's slots.
NOW = dt.datetime(2026, 12, 8, 10, 30, tzinfo=SHANGHAI)
TOMORROW = dt.date(2026, 12, 9)
CHEN = "wmApptChenJing000000000000000001"


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def hold_create(*, store, customer, associate, product, quantity: int = 1, expires_in_hours: int = 48) -> Pickup:
    """An open hold as the hold service leaves it: the pickup, its line, and the units reserved in StoreStock.held."""
    pickup = Pickup.objects.create(
        kind=Pickup.Kind.HOLD,
        status=Pickup.Status.HELD,
        code=uuid.uuid4().hex[:10].upper(),
        token=uuid.uuid4().hex,
        store=store,
        customer=customer,
        associate=associate,
        request_id=uuid.uuid4().hex,
        expires_at=timezone.now() + dt.timedelta(hours=expires_in_hours),
    )
    PickupLine.objects.create(pickup=pickup, product=product, quantity=quantity)
    stock = StoreStock.objects.filter(store=store, product=product).first() or StoreStockFactory(
        store=store, product=product, quantity=2
    )
    StoreStock.objects.filter(pk=stock.pk).update(held=F("held") + quantity)
    return pickup


def appointment_world(*, capacity: int = 2, external_userid: str = CHEN, weekday: int | None = None) -> dict:
    store = StoreFactory(code="SH01", name="上海静安店", address="南京西路 1601 号", opening_hours="10:00-22:00")
    other = StoreFactory(code="BJ01", name="北京三里屯店")
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    stranger = AssociateFactory(store=other, wecom_userid="wangqiang", name="王强")
    chen = CustomerFactory(name="陈静", primary_store=store, primary_associate=associate)
    IdentityFactory(customer=chen, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=external_userid)
    FollowRelation.objects.create(
        associate=associate, customer=chen, external_userid=external_userid, followed_at=NOW - dt.timedelta(days=30)
    )
    wang = CustomerFactory(name="王芳", primary_store=store)
    template = SlotTemplate.objects.create(
        store=store,
        kind=Kind.TRY_ON,
        weekday=TOMORROW.weekday() if weekday is None else weekday,
        start_time=dt.time(14, 0),
        end_time=dt.time(17, 0),
        slot_minutes=60,
        capacity=capacity,
    )
    dress = ProductFactory(name="真丝连衣裙 黑色", size="M", colour="黑色")
    hold = hold_create(store=store, customer=chen, associate=associate, product=dress)
    return {
        "store": store,
        "other": other,
        "associate": associate,
        "stranger": stranger,
        "chen": chen,
        "wang": wang,
        "template": template,
        "dress": dress,
        "hold": hold,
    }
