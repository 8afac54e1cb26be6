"""BOPIS: an orders-API order with pickup in store becomes a pending pickup once; the OMS marks it ready (a task and a
notice for the store's associate, a message to the customer through WeCom's add_msg_template in the emulator); a
reminder before it expires, sent once; expiry. Intake, ready, reminder and expiry are each safe twice."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from celery.exceptions import Retry
from django.utils import timezone
from rest_framework.test import APIClient

from clientbook.models import FollowRelation, FollowUpTask
from customers.ingestion import api_key_create
from customers.models import ApiKey, Channel, Identity, Order
from fulfilment import bopis
from fulfilment.models import Pickup, PickupLine
from fulfilment.tasks import bopis_reminder_later, bopis_tick_task
from notices.models import Notice
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
)
from tests.test_community_groups import emulator_for

CHEN = "wmBopisChenJing00000000000000001"
PHONE = "+8613812345678"


@pytest.fixture
def emulator(settings):
    """The emulator's world: 林雨 of 上海静安店 and 陈静, friends (callbacks off: Omni's rows are the shop's)."""
    running = emulator_for(settings)
    running.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    running.control("POST", "associates", {"userid": "bjmanager", "name": "北京店长", "store": "北京三里屯店"})
    running.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": CHEN})
    running.control("POST", "contacts/add", {"external_userid": CHEN, "userid": "linyu"})
    yield running
    running.stop()


@pytest.fixture
def shop(db):
    """上海静安店 with its associate 林雨 (陈静's friend there), another store, two products, the mall's key."""
    store = StoreFactory(
        code="SH01", name="上海静安店", address="静安区南京西路1266号", opening_hours="10:00-22:00", hold_hours=48
    )
    other = StoreFactory(code="BJ01", name="北京三里屯店")
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    colleague = AssociateFactory(store=store, wecom_userid="xiaomei", name="小美")
    far = AssociateFactory(store=other, wecom_userid="beijing", name="北京导购")
    chen = CustomerFactory(name="陈静", primary_store=store, phone=PHONE)
    IdentityFactory(customer=chen, kind=Identity.Kind.PHONE, value=PHONE)
    IdentityFactory(customer=chen, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=CHEN)
    now = timezone.now()
    # Her oldest friendship is in Beijing, then a colleague at SH01, then 林雨: the order names 林雨.
    FollowRelation.objects.create(associate=far, customer=chen, external_userid=CHEN, followed_at=now - timedelta(9))
    FollowRelation.objects.create(
        associate=colleague, customer=chen, external_userid=CHEN, followed_at=now - timedelta(5)
    )
    FollowRelation.objects.create(associate=associate, customer=chen, external_userid=CHEN, followed_at=now)
    ProductFactory(sku="DRESS-M", name="真丝连衣裙 黑色 M", price=Decimal("1699.00"))
    ProductFactory(sku="BELT-1", name="细皮带", price=Decimal("299.00"))
    return {"store": store, "other": other, "associate": associate, "colleague": colleague, "chen": chen}


def _client(channel=Channel.MINI_PROGRAM, stores=(), scopes=None):
    _, secret = api_key_create(name="OMS", channel=channel, stores=stores, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def _order(external_id="MP1001", store="SH01", **extra):
    return {
        "external_id": external_id,
        "placed_at": "2026-12-01T10:00:00+08:00",
        "store": store,
        "status": "paid",
        "fulfilment": "store_pickup",
        "associate": "linyu",
        "customer": {"phone": PHONE, "name": "陈静"},
        "lines": [
            {"sku": "DRESS-M", "quantity": 1, "unit_price": "1699.00"},
            {"sku": "BELT-1", "quantity": 2, "unit_price": "299.00"},
        ],
        **extra,
    }


def _send(client, captured, *orders):
    with captured(execute=True):
        response = client.post("/api/v1/orders/batch", {"orders": list(orders)}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def _ready(client, captured, **body):
    body = {"store_code": "SH01", "external_id": "MP1001", "request_id": "R-1", **body}
    body = {key: value for key, value in body.items() if value is not None}
    with captured(execute=True):
        return client.post("/api/v1/pickups/ready", body, format="json")


def _mass(emulator, userid="linyu"):
    return emulator.control("GET", "mass_messages", userid=userid)["mass_messages"]


# Intake ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_store_pickup_order_becomes_one_pending_pickup_and_a_replay_creates_nothing(
    shop, django_capture_on_commit_callbacks
):
    client = _client()
    first = _send(client, django_capture_on_commit_callbacks, _order())
    replay = _send(client, django_capture_on_commit_callbacks, _order())

    assert (first["summary"]["created"], replay["summary"]["unchanged"]) == (1, 1)
    pickup = Pickup.objects.get()
    order = Order.objects.get(external_id="MP1001")
    assert (pickup.kind, pickup.status, pickup.order_id, pickup.store_id) == (
        "order",
        "pending",
        order.pk,
        shop["store"].pk,
    )
    assert (pickup.customer_id, pickup.associate_id) == (shop["chen"].pk, shop["associate"].pk)
    assert pickup.request_id == f"order:{order.pk}"
    assert len(pickup.code) == 10 and pickup.code.isdigit() and len(pickup.token) == 32
    assert sorted(PickupLine.objects.values_list("product__sku", "quantity")) == [("BELT-1", 2), ("DRESS-M", 1)]
    assert pickup.ready_at is None and FollowUpTask.objects.count() == 0

    # The set-based intake run again (the beat's sweep, a redelivered task) creates nothing either.
    assert bopis.bopis_orders_take_in(order_ids=[order.pk]) == []
    assert bopis.bopis_orders_take_in(since=timezone.now() - timedelta(days=30)) == []
    assert (Pickup.objects.count(), PickupLine.objects.count()) == (1, 2)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "channel,extra",
    [
        (Channel.MINI_PROGRAM, {"fulfilment": "delivery"}),
        (Channel.ONLINE_MALL, {"fulfilment": "delivery", "store": ""}),
        (Channel.MINI_PROGRAM, {"status": "completed"}),
        (Channel.MINI_PROGRAM, {"status": "cancelled"}),
        (Channel.STORE_POS, {"fulfilment": "in_store"}),
    ],
)
def test_an_order_not_waiting_for_a_store_pickup_creates_nothing(
    shop, django_capture_on_commit_callbacks, channel, extra
):
    _send(_client(channel=channel), django_capture_on_commit_callbacks, _order(**extra))

    assert Order.objects.count() == 1
    assert Pickup.objects.count() == 0
    assert bopis.bopis_orders_take_in(since=timezone.now() - timedelta(days=30)) == []


@pytest.mark.django_db
def test_the_beat_takes_in_an_order_whose_hook_was_lost_and_picks_the_customers_friend_at_that_store(shop):
    # Recorded without the batch's hook (a worker died): no associate on the order, 陈静's primary associate unset.
    order = OrderFactory(
        channel=Channel.ONLINE_MALL,
        customer=shop["chen"],
        store=shop["store"],
        status=Order.Status.PLACED,
        fulfilment=Order.Fulfilment.STORE_PICKUP,
        placed_at=timezone.now() - timedelta(days=1),
    )
    OrderLineFactory(order=order, line_no=1, product=ProductFactory(sku="SCARF"), quantity=1, unit_price=Decimal("1"))

    assert bopis_tick_task.delay().get() == {"taken_in": 1, "reminded": 0, "expired": 0}
    assert bopis_tick_task.delay().get() == {"taken_in": 0, "reminded": 0, "expired": 0}
    pickup = Pickup.objects.get()
    # Her longest friend at SH01 (小美), not her older friend in Beijing.
    assert (pickup.order_id, pickup.associate_id) == (order.pk, shop["colleague"].pk)


@pytest.mark.django_db
def test_a_customer_with_no_friend_at_the_store_gets_a_pickup_without_associate(
    shop, django_capture_on_commit_callbacks
):
    _send(_client(), django_capture_on_commit_callbacks, _order(store="BJ01", associate=""))
    assert Pickup.objects.get().associate_id is not None  # 北京导购 is her friend there

    FollowRelation.objects.filter(associate__store=shop["other"]).update(ended_at=timezone.now())
    _send(_client(), django_capture_on_commit_callbacks, _order(external_id="MP1002", store="BJ01", associate=""))
    assert Pickup.objects.get(order__external_id="MP1002").associate_id is None


@pytest.mark.django_db
def test_the_orders_api_cancelling_or_completing_the_order_closes_its_open_pickup(
    shop, django_capture_on_commit_callbacks
):
    client = _client()
    _send(client, django_capture_on_commit_callbacks, _order(), _order(external_id="MP1002"))
    _send(
        client,
        django_capture_on_commit_callbacks,
        _order(status="cancelled"),
        _order(external_id="MP1002", status="completed"),
    )

    assert dict(Pickup.objects.values_list("order__external_id", "status")) == {
        "MP1001": "cancelled",
        "MP1002": "collected",
    }
    assert Pickup.objects.filter(closed_at__isnull=True).count() == 0


# Ready ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ready_gives_the_associate_a_task_and_a_notice_and_the_customer_a_message_once(
    shop, emulator, django_capture_on_commit_callbacks
):
    client = _client()
    _send(client, django_capture_on_commit_callbacks, _order())
    pickup = Pickup.objects.get()

    response = _ready(client, django_capture_on_commit_callbacks)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["replayed"] is False
    assert body["pickup"]["code"] == pickup.code
    assert (body["pickup"]["status"], body["pickup"]["store_code"], body["pickup"]["associate"]) == (
        "ready",
        "SH01",
        "linyu",
    )
    pickup.refresh_from_db()
    assert pickup.expires_at == pickup.ready_at + timedelta(hours=48)
    assert pickup.ready_notified_at is not None
    task = FollowUpTask.objects.get()
    assert (task.associate_id, task.customer_id, task.occasion, task.action) == (
        shop["associate"].pk,
        shop["chen"].pk,
        f"pickup:{pickup.pk}",
        "any_message",
    )
    assert pickup.code in task.title and task.due_on == timezone.localdate()
    notice = Notice.objects.get()
    assert (notice.associate_id, notice.kind) == (shop["associate"].pk, "task_due")
    assert notice.url.endswith(f"/workbench/tasks/{task.pk}/")
    # WeCom: one single-chat message task from 林雨 to 陈静, with code, store, address, hours and the deadline.
    [message] = _mass(emulator)
    text = message["text"]["content"]
    until = timezone.localtime(pickup.expires_at).strftime("%m月%d日 %H:%M")
    for part in (
        f"取货码：{pickup.code}",
        "门店：上海静安店",
        "地址：静安区南京西路1266号",
        "营业时间：10:00-22:00",
        until,
    ):
        assert part in text
    assert message["tasks"]["linyu"]["results"] == {CHEN: {"status": 0, "send_time": 0}}
    confirmed = emulator.control("POST", "mass_messages/confirm", {"msgid": message["msgid"], "userid": "linyu"})
    assert confirmed["results"][CHEN]["status"] == 1
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=CHEN)["messages"]
    assert any(pickup.code in str(m) for m in transcript)

    # The OMS sends it again (and once more by the code): same answer, nothing new anywhere.
    again = _ready(client, django_capture_on_commit_callbacks, request_id="R-2")
    by_code = _ready(client, django_capture_on_commit_callbacks, external_id=None, code=pickup.code)
    assert (again.status_code, again.json()["replayed"], by_code.status_code) == (200, True, 200)
    assert again.json()["pickup"] == body["pickup"]
    assert (FollowUpTask.objects.count(), Notice.objects.count(), len(_mass(emulator))) == (1, 1, 1)
    assert bopis.bopis_customer_message_send(pickup_id=pickup.pk, purpose=bopis.READY) == "already"
    assert len(_mass(emulator)) == 1


@pytest.mark.django_db
def test_ready_without_an_associate_tasks_the_store_manager_and_messages_nobody(
    shop, emulator, django_capture_on_commit_callbacks
):
    manager = AssociateFactory(store=shop["other"], wecom_userid="bjmanager", role="store_manager")
    FollowRelation.objects.filter(associate__store=shop["other"]).update(ended_at=timezone.now())
    client = _client()
    _send(client, django_capture_on_commit_callbacks, _order(store="BJ01", associate=""))

    response = _ready(client, django_capture_on_commit_callbacks, store_code="BJ01")

    assert response.status_code == 201
    assert response.json()["pickup"]["associate"] is None
    task = FollowUpTask.objects.get()
    assert task.associate_id == manager.pk and "电话通知" in task.title
    assert _mass(emulator, "bjmanager") == [] and emulator.control("GET", "mass_messages")["mass_messages"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"external_id": "NOPE"}, 404, "unknown_order"),
        ({"external_id": None, "code": "0000000000"}, 404, "unknown_order"),
        ({"store_code": "BJ01"}, 409, "wrong_store"),
        ({"store_code": "XX99"}, 404, "unknown_store"),
        ({"external_id": "MP-DELIVERY"}, 409, "not_store_pickup"),
        ({"channel": "online_mall"}, 404, "unknown_order"),
        ({"request_id": ""}, 400, "invalid"),
    ],
)
def test_ready_refusals_have_stable_codes_and_change_nothing(
    shop, emulator, django_capture_on_commit_callbacks, body, status, code
):
    client = _client()
    _send(
        client, django_capture_on_commit_callbacks, _order(), _order(external_id="MP-DELIVERY", fulfilment="delivery")
    )

    response = _ready(client, django_capture_on_commit_callbacks, **body)

    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert list(Pickup.objects.values_list("status", flat=True)) == ["pending"]
    assert (FollowUpTask.objects.count(), Notice.objects.count(), _mass(emulator)) == (0, 0, [])


@pytest.mark.django_db
def test_ready_refuses_a_collected_or_expired_pickup_and_a_key_of_another_store(
    shop, emulator, django_capture_on_commit_callbacks
):
    client = _client()
    _send(client, django_capture_on_commit_callbacks, _order(), _order(external_id="MP1002"))
    Pickup.objects.filter(order__external_id="MP1001").update(status="collected", closed_at=timezone.now())
    Pickup.objects.filter(order__external_id="MP1002").update(status="expired", closed_at=timezone.now())

    collected = _ready(client, django_capture_on_commit_callbacks)
    expired = _ready(client, django_capture_on_commit_callbacks, external_id="MP1002")
    other_store_key = _ready(_client(stores=[shop["other"]]), django_capture_on_commit_callbacks)
    no_scope = _ready(_client(scopes=[ApiKey.Scope.MEMBERS]), django_capture_on_commit_callbacks)

    assert (collected.status_code, collected.json()["error"]["code"]) == (409, "already_collected")
    assert (expired.status_code, expired.json()["error"]["code"]) == (409, "pickup_closed")
    assert (other_store_key.status_code, other_store_key.json()["error"]["code"]) == (403, "store_not_allowed")
    assert (no_scope.status_code, no_scope.json()["error"]["code"]) == (403, "scope_missing")
    assert (FollowUpTask.objects.count(), _mass(emulator)) == (0, [])


@pytest.mark.django_db
def test_ready_takes_in_an_order_the_hook_has_not_reached_yet(shop, emulator, django_capture_on_commit_callbacks):
    client = _client()
    with django_capture_on_commit_callbacks(execute=False):  # the batch commits, its hook never runs
        client.post("/api/v1/orders/batch", {"orders": [_order()]}, format="json")
    assert Pickup.objects.count() == 0

    response = _ready(client, django_capture_on_commit_callbacks)

    assert response.status_code == 201
    assert Pickup.objects.get().status == "ready"
    assert len(_mass(emulator)) == 1


# Reminder and expiry --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_reminder_goes_once_a_day_before_the_end_and_expiry_tells_the_associate(
    shop, emulator, django_capture_on_commit_callbacks
):
    client = _client()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _send(client, django_capture_on_commit_callbacks, _order())
        _ready(client, django_capture_on_commit_callbacks)
    pickup = Pickup.objects.get()
    assert pickup.expires_at == start + timedelta(hours=48)

    # 23 hours after ready: not yet (the reminder is for the last 24 hours).
    with time_machine.travel(start + timedelta(hours=23), tick=False):
        assert bopis_tick_task.delay().get() == {"taken_in": 0, "reminded": 0, "expired": 0}
    # 25 hours: reminded, once, however often the beat runs.
    with time_machine.travel(start + timedelta(hours=25), tick=False):
        assert bopis_tick_task.delay().get() == {"taken_in": 0, "reminded": 1, "expired": 0}
        assert bopis_tick_task.delay().get() == {"taken_in": 0, "reminded": 0, "expired": 0}
        assert bopis.bopis_customer_message_send(pickup_id=pickup.pk, purpose=bopis.REMINDER) == "already"
        bopis_reminder_later(pickup.pk)
    messages = _mass(emulator)
    assert len(messages) == 2
    assert "提醒您" in messages[1]["text"]["content"] and pickup.code in messages[1]["text"]["content"]
    pickup.refresh_from_db()
    assert pickup.reminded_at == start + timedelta(hours=25)

    # Past the end: expired, the associate told, her task closed; a second run changes nothing.
    with time_machine.travel(start + timedelta(hours=48, minutes=1), tick=False):
        assert bopis_tick_task.delay().get() == {"taken_in": 0, "reminded": 0, "expired": 1}
        assert bopis_tick_task.delay().get() == {"taken_in": 0, "reminded": 0, "expired": 0}
    pickup.refresh_from_db()
    assert (pickup.status, pickup.close_reason) == ("expired", "超过保留时间未取货")
    expired_notice = Notice.objects.get(dedupe_key=f"pickup_expired:{pickup.pk}")
    assert expired_notice.associate_id == shop["associate"].pk and pickup.code in expired_notice.description
    assert FollowUpTask.objects.get().closed_note == "自提订单已过期"
    assert len(_mass(emulator)) == 2
    # And the OMS can no longer ready it.
    late = _ready(client, django_capture_on_commit_callbacks)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "pickup_closed")


@pytest.mark.django_db
def test_a_short_hold_is_reminded_at_its_half_not_at_once(shop, emulator, django_capture_on_commit_callbacks):
    shop["store"].hold_hours = 12
    shop["store"].save()
    client = _client()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _send(client, django_capture_on_commit_callbacks, _order())
        _ready(client, django_capture_on_commit_callbacks)
        assert bopis.bopis_remind(send_later=bopis_reminder_later) == []
    with time_machine.travel(start + timedelta(hours=6, minutes=1), tick=False):
        assert bopis.bopis_remind(send_later=bopis_reminder_later) == [Pickup.objects.get().pk]


@pytest.mark.django_db
def test_a_busy_wecom_releases_the_claim_and_the_retry_sends_the_message_once(
    shop, emulator, django_capture_on_commit_callbacks
):
    client = _client()
    _send(client, django_capture_on_commit_callbacks, _order())
    emulator.control("POST", "faults", {"busy_rate": 1.0, "only_apis": ["externalcontact/add_msg_template"]})

    with pytest.raises(Retry):  # eager here; a worker would retry it later, with backoff
        _ready(client, django_capture_on_commit_callbacks)

    pickup = Pickup.objects.get()
    assert (pickup.status, pickup.ready_notified_at, _mass(emulator)) == ("ready", None, [])
    emulator.control("POST", "faults", {"busy_rate": 0.0})
    assert bopis.bopis_customer_message_send(pickup_id=pickup.pk, purpose=bopis.READY) == "sent"
    assert bopis.bopis_customer_message_send(pickup_id=pickup.pk, purpose=bopis.READY) == "already"
    assert len(_mass(emulator)) == 1
