"""End to end in a real browser, through the emulator: a customer scanning the associate's QR (新客户扫码添加) reaches
Omni as a real encrypted callback, Omni sends an app message, and it arrives in the emulator's 应用消息 list; its link
opens the customer's page in WeCom (OAuth). The same when the customer deletes the associate. Then the morning digest:
its link opens today's tasks, a task opens the customer's chat (wx.openEnterpriseChat), and sending the coupon pack from
the sidebar closes the task by itself.

Debian's Chromium driven by Playwright; screenshots at 390×844 in docs/."""

from datetime import time
from pathlib import Path
from time import monotonic, sleep

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from clientbook.models import FollowRelation, FollowUpTask
from clientbook.notifying import notices_digest_all
from notices.models import Notice
from notices.services import notice_preference_update
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    StoreFactory,
)
from tests.live_emulator import live_emulator
from tests.test_sidebar_ui import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN, _customer_with_three_channels

pytestmark = pytest.mark.browser

DOCS = Path(django_settings.BASE_DIR) / "docs"
EXTERNAL_USERID = "wmSidebarChenJing000000000000001"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def emulator(live_server, settings):
    """The sidebar tests' emulator (one host with Omni), with its callbacks on: adds and deletes reach Omni."""
    omni = live_server.url.replace("localhost", "127.0.0.1")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, omni, **config) as running:
        settings.WECOM_JSSDK_URL = f"{running.url}/jssdk/jwxwork.js"
        settings.OMNI_FRAME_ANCESTORS = [running.url]
        settings.OMNI_PUBLIC_URL = omni
        running.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
        yield running


def _awake_all_day(associate) -> None:
    """The test runs at any hour: no quiet hours for this associate (the default 22:00–08:00 would defer)."""
    notice_preference_update(associate=associate, quiet_start=time(0), quiet_end=time(0), daily_cap=20)


def _wait_for(condition, seconds=15.0) -> None:
    """The emulator delivers its callbacks from its own thread: wait until Omni has processed them."""
    deadline = monotonic() + seconds
    while not condition():
        assert monotonic() < deadline, "timed out"
        sleep(0.1)


def _associate_view(emulator, browser, viewport=None):
    page = browser.new_page(viewport=viewport or {"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    return page


def _card(page, title):
    card = page.locator("#app-message-list li.app-message", has_text=title)
    card.wait_for(timeout=20000)
    return card


@pytest.mark.django_db(transaction=True)
def test_a_customer_adding_then_deleting_the_associate_arrives_as_app_messages(emulator, browser):
    associate = AssociateFactory(store=StoreFactory(code="SH01", name="上海静安店"), wecom_userid="linyu", name="林雨")
    _awake_all_day(associate)
    page = _associate_view(emulator, browser, PHONE)

    page.click("#scan-new")
    page.fill("#scan-name", "陈静")
    page.click("#scan-go")
    card = _card(page, "新客户添加了你：陈静")
    follow = FollowRelation.objects.get(associate=associate)
    assert "刚刚添加你为企业微信好友" in card.inner_text()

    # Its link opens the customer's page inside WeCom (OAuth, as the sidebar).
    card.locator("button").click()
    frame = page.frame_locator("#sidebar-frame")
    frame.locator("#customer-name", has_text="陈静").wait_for(timeout=20000)
    assert frame.locator("#open-chat").get_attribute("data-external") == follow.external_userid

    # The customer deletes the associate (客户删除导购 in the open chat).
    page.click(f'#customer-list li[data-external-userid="{follow.external_userid}"]')
    page.locator("#chat-actions button", has_text="客户删除导购").click()
    _card(page, "客户删除了你：陈静")
    assert list(Notice.objects.order_by("pk").values_list("kind", "status")) == [
        ("new_customer", "sent"),
        ("customer_left", "sent"),
    ]
    page.evaluate("document.querySelector('.section-head:has(+ #app-message-list)').scrollIntoView()")
    page.evaluate("window.scrollBy(0, -12)")
    page.screenshot(path=str(DOCS / "day_notifications.png"))


@pytest.mark.django_db(transaction=True)
def test_a_task_opened_from_the_morning_digest_closes_itself_when_the_pack_is_sent_from_the_sidebar(emulator, browser):
    associate, customer = _customer_with_three_channels()
    _awake_all_day(associate)
    pack = CouponPackFactory(name="老客回购礼", description="好久不见，满300减50")
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(name="满300减50"))
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    task = FollowUpTask.objects.create(
        associate=associate,
        customer=customer,
        title="送老客回购券包",
        due_on=timezone.localdate(),
        action=FollowUpTask.Action.SEND_COUPON,
    )
    _wait_for(lambda: FollowRelation.objects.filter(associate=associate, external_userid=EXTERNAL_USERID).exists())

    assert notices_digest_all() == 1  # the morning's beat job
    page = _associate_view(emulator, browser)
    _card(page, "今日任务 1 项").locator("button").click()
    frame = page.frame_locator("#sidebar-frame")
    frame.locator(f'#task-list a[data-task="{task.pk}"]').click()
    frame.locator("#task-title", has_text="送老客回购券包").wait_for(timeout=20000)

    # 打开聊天: the chat with the customer opens, its sidebar beside it; the pack is sent from there.
    frame.locator("#open-chat").click()
    page.locator("#chat-title", has_text="陈静").wait_for(timeout=20000)
    offer = frame.locator(f'#packs .pick[data-pack="{pack.pk}"]')
    offer.wait_for(timeout=20000)
    offer.locator("button").click()
    offer.locator("button", has_text="已发送").wait_for(timeout=10000)

    task.refresh_from_db()
    assert task.done_at is not None
    assert (task.closed_by_id, task.closed_note) == (associate.pk, "从侧边栏发送券包「老客回购礼」")

    # The digest's task, opened again on the phone, says who closed it and how.
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    context.add_cookies(page.context.cookies())
    phone = context.new_page()
    phone.goto(Notice.objects.get(kind="digest").url.replace("/workbench/tasks/", f"/workbench/tasks/{task.pk}/"))
    phone.locator("#task-done").wait_for(timeout=20000)
    assert "从侧边栏发送券包「老客回购礼」 · 林雨" in phone.locator("#task-closed").inner_text()
    phone.screenshot(path=str(DOCS / "day_task.png"))
