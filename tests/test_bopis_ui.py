"""End to end in a real browser, through the emulator: the mini-program's order with pickup in store arrives through
the orders API and becomes a pending pickup; the OMS marks it ready through the pickups API; 林雨 gets the app message
(应用消息) whose link opens her task in the workbench, the task is in her task list, and the customer's "ready for
pickup" message waits in her group-message assistant (群发助手) until she confirms it, then lands in the chat with
陈静 — pickup code, store, address, hours and the deadline.

Debian's Chromium driven by Playwright; screenshots go to artifacts/."""

from decimal import Decimal
from time import monotonic, sleep

import pytest
import requests
from django.utils import timezone

from clientbook.models import FollowRelation, FollowUpTask
from customers.ingestion import api_key_create
from customers.models import Channel, Identity
from fulfilment.models import Pickup
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, ProductFactory, StoreFactory
from tests.test_notices_ui import _awake_all_day
from tests.test_notices_ui import emulator as notices_emulator
from tests.test_sidebar_ui import ARTIFACTS

pytestmark = pytest.mark.browser

CHEN = "wmBopisChenJing00000000000000001"
PHONE = "+8613812345678"
emulator = notices_emulator  # the sidebar tests' emulator (one host with Omni), callbacks on, 林雨 in it


def _wait_for(condition, seconds=20.0) -> None:
    deadline = monotonic() + seconds
    while not condition():
        assert monotonic() < deadline, "timed out"
        sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_an_orders_api_pickup_order_made_ready_reaches_the_associates_tasks_and_the_customers_chat(
    emulator, browser, live_server
):
    store = StoreFactory(
        code="SH01", name="上海静安店", address="静安区南京西路1266号", opening_hours="10:00-22:00", hold_hours=48
    )
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    _awake_all_day(associate)
    chen = CustomerFactory(name="陈静", primary_store=store, primary_associate=associate, phone=PHONE)
    IdentityFactory(customer=chen, kind=Identity.Kind.PHONE, value=PHONE)
    IdentityFactory(customer=chen, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=CHEN)
    ProductFactory(sku="DRESS-M", name="真丝连衣裙 黑色 M", price=Decimal("1699.00"))
    # 陈静 and 林雨 are friends: the emulator's add reaches Omni as a real callback.
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": CHEN})
    emulator.control("POST", "contacts/add", {"external_userid": CHEN, "userid": "linyu"})
    _wait_for(lambda: FollowRelation.objects.filter(associate=associate, external_userid=CHEN).exists())
    ARTIFACTS.mkdir(exist_ok=True)
    omni = live_server.url.replace("localhost", "127.0.0.1")
    _, secret = api_key_create(name="小程序 OMS", channel=Channel.MINI_PROGRAM)
    headers = {"Authorization": f"Api-Key {secret}"}

    # The mini-program's order, to be picked up at SH01.
    order = {
        "external_id": "MP20261208001",
        "placed_at": timezone.now().isoformat(),
        "store": "SH01",
        "status": "paid",
        "fulfilment": "store_pickup",
        "customer": {"phone": PHONE},
        "lines": [{"sku": "DRESS-M", "quantity": 1, "unit_price": "1699.00"}],
    }
    answer = requests.post(f"{omni}/api/v1/orders/batch", json={"orders": [order]}, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    pickup = Pickup.objects.get()
    assert (pickup.status, pickup.associate_id) == ("pending", associate.pk)

    # The OMS: it is ready in the store.
    ready = requests.post(
        f"{omni}/api/v1/pickups/ready",
        json={"store_code": "SH01", "external_id": "MP20261208001", "request_id": "OMS-READY-1"},
        headers=headers,
        timeout=30,
    )
    assert ready.status_code == 201, ready.text
    pickup.refresh_from_db()
    task = FollowUpTask.objects.get(occasion=f"pickup:{pickup.pk}")

    # 林雨's phone: the app message, whose link opens the task in the workbench.
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    card = page.locator("#app-message-list li.app-message", has_text="自提订单待取货：陈静")
    card.wait_for(timeout=20000)
    assert pickup.code in card.inner_text()
    card.locator("button").click()
    frame = page.frame_locator("#sidebar-frame")
    frame.locator("#task-title", has_text=pickup.code).wait_for(timeout=20000)
    assert frame.locator("#task-customer").inner_text() == "陈静"
    page.screenshot(path=str(ARTIFACTS / "bopis_ready_task.png"))

    # Her task list (the workbench's tasks page) has it.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.add_cookies(page.context.cookies())
    phone = context.new_page()
    phone.goto(f"{omni}/workbench/tasks/")
    row = phone.locator(f'#task-list a[data-task="{task.pk}"]')
    row.wait_for(timeout=20000)
    assert "自提订单已到店" in row.inner_text()
    phone.screenshot(path=str(ARTIFACTS / "bopis_tasks_page.png"))

    # The customer's message waits in the group-message assistant; 林雨 confirms it and it lands in the chat.
    pending = page.locator("#mass-list li", has_text=f"取货码：{pickup.code}")
    pending.wait_for(timeout=20000)
    pending.locator("button", has_text="确认发送").click()
    page.click(f'#customer-list li[data-external-userid="{CHEN}"]')
    page.locator("#chat-title", has_text="陈静").wait_for(timeout=20000)
    message = page.locator("#transcript", has_text=f"取货码：{pickup.code}")
    message.wait_for(timeout=20000)
    page.frame_locator("#sidebar-frame").locator("#name", has_text="陈静").wait_for(timeout=20000)
    text = page.locator("#transcript").inner_text()
    until = timezone.localtime(pickup.expires_at).strftime("%m月%d日 %H:%M")
    for part in ("MP20261208001", "门店：上海静安店", "地址：静安区南京西路1266号", "营业时间：10:00-22:00", until):
        assert part in text
    page.screenshot(path=str(ARTIFACTS / "bopis_ready_message.png"))
