"""End to end in a real browser, through the WeCom emulator: the associate sends the booking link from the chat
sidebar, the customer opens the card on her phone and books tomorrow's try-on with the item held for her, the
day-before reminders go out (time frozen: to her through WeCom's group-message assistant, to the associate as an app
message), and the associate opens the reminder into her day view, the customer's WeCom profile one tap away.

Debian's Chromium driven by Playwright; screenshots go to artifacts/.
"""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from appointments.models import Appointment
from appointments.services import appointments_remind
from notices.models import Notice
from tests import test_sidebar_ui as sidebar_ui
from tests.appointments_world import SHANGHAI, appointment_world
from tests.test_notices_ui import _awake_all_day, _card
from tests.test_sidebar_ui import ARTIFACTS

pytestmark = pytest.mark.browser

EXTERNAL_USERID = "wmSidebarChenJing000000000000001"
emulator = sidebar_ui.emulator  # the sidebar tests' emulator (one host with Omni)


@pytest.mark.django_db(transaction=True)
def test_a_customer_books_from_the_chat_link_with_her_hold_is_reminded_and_shows_in_the_day_view(emulator, browser):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    world = appointment_world(external_userid=EXTERNAL_USERID, weekday=tomorrow.weekday())
    associate, chen = world["associate"], world["chen"]
    _awake_all_day(associate)
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    ARTIFACTS.mkdir(exist_ok=True)

    # In the chat with 陈静, the associate sends the booking link from the sidebar's 到店预约 panel.
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    sidebar = page.frame_locator("#sidebar-frame")
    sidebar.locator("#appt-slot option").first.wait_for(state="attached", timeout=20000)
    assert "真丝连衣裙 黑色 × 1" in sidebar.locator("#appt-holds").inner_text()
    sidebar.locator("#appt-send-link").click()
    sidebar.locator("#appt-status", has_text="已发送预约链接").wait_for(timeout=10000)
    sidebar.locator("#appointments-card").scroll_into_view_if_needed()
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "appointments_sidebar_link_sent.png"))
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=EXTERNAL_USERID)["messages"]
    card = [m for m in transcript if m["msgtype"] == "news"][-1]["body"]
    assert card["title"] == "预约到店试穿"
    assert "为您预留的 1 件商品可一起试穿" in card["desc"]

    # 陈静 opens the card on her phone: tomorrow's slots and her hold; she books 14:00 with the hold.
    phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2)
    phone.goto(card["link"])
    phone.locator("#holds").wait_for(timeout=10000)
    assert "真丝连衣裙 黑色 · M码 × 1" in phone.locator("#holds").inner_text()
    phone.screenshot(path=str(ARTIFACTS / "appointments_customer_book.png"), full_page=True)
    phone.locator("label.slot", has_text="14:00").click()
    phone.click("#book")
    phone.locator("#notice", has_text="预约成功").wait_for(timeout=10000)
    assert "真丝连衣裙 黑色 × 1" in phone.locator("#items").inner_text()
    phone.screenshot(path=str(ARTIFACTS / "appointments_customer_booked.png"), full_page=True)
    appointment = Appointment.objects.get()
    starts = dt.datetime.combine(tomorrow, dt.time(14), tzinfo=SHANGHAI)
    assert (appointment.customer_id, appointment.starts_at, appointment.channel) == (chen.pk, starts, "customer")
    assert list(appointment.pickups.values_list("pk", flat=True)) == [world["hold"].pk]

    # The day before, from 10:00: the beat reminds her (WeCom, the associate as sender) and the associate, once.
    moment = max(timezone.now(), dt.datetime.combine(tomorrow - dt.timedelta(days=1), dt.time(10, 30), tzinfo=SHANGHAI))
    with time_machine.travel(moment, tick=False):
        assert appointments_remind() == {"sent": 2}
        assert appointments_remind() == {}
    reminder = emulator.control("GET", "mass_messages", userid="linyu")["mass_messages"]
    assert len(reminder) == 1
    assert "明天" in reminder[0]["text"]["content"] and "真丝连衣裙 黑色" in reminder[0]["text"]["content"]
    assert reminder[0]["attachments"][0]["link"]["url"].endswith(f"/a/v/{appointment.token}/")
    assert Notice.objects.get().status == Notice.Status.SENT

    # The associate opens the reminder (an app message) into her day view: 陈静 at 14:00 with the held dress.
    desk = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    desk.goto(emulator.url + "/")
    desk.select_option("#associate-select", "linyu")
    _card(desk, "明天14:00预约：陈静").locator("button").click()
    day = desk.frame_locator("#sidebar-frame")
    row = day.locator(f'.appt[data-appointment="{appointment.pk}"]')
    row.wait_for(timeout=20000)
    assert "陈静" in row.inner_text() and "真丝连衣裙 黑色 × 1" in row.inner_text() and "已预约" in row.inner_text()
    desk.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "appointments_day_view.png"))
    # Her WeCom profile one tap away: the emulator opens the chat with her.
    row.locator(".open-profile").click()
    desk.locator("#chat-title", has_text="陈静").wait_for(timeout=20000)
    desk.screenshot(path=str(ARTIFACTS / "appointments_profile_opened.png"))


@pytest.mark.django_db(transaction=True)
def test_the_associate_books_from_the_sidebar_with_the_hold_and_cancels_it(emulator, browser):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    world = appointment_world(external_userid=EXTERNAL_USERID, weekday=tomorrow.weekday())
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    sidebar = page.frame_locator("#sidebar-frame")
    sidebar.locator("#appt-slot option").first.wait_for(state="attached", timeout=20000)
    sidebar.locator("#appt-slot").select_option(index=1)  # 15:00
    sidebar.locator("#appt-book-button").click()
    sidebar.locator("#appt-status", has_text="已预约").wait_for(timeout=10000)
    booked = sidebar.locator("#appt-list .appt")
    assert (
        "15:00 试衣 · 已预约" in booked.first.inner_text() and "试穿：真丝连衣裙 黑色 × 1" in booked.first.inner_text()
    )
    sidebar.locator("#appointments-card").scroll_into_view_if_needed()
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "appointments_sidebar_booked.png"))
    appointment = Appointment.objects.get()
    assert (appointment.channel, appointment.starts_at) == (
        "sidebar",
        dt.datetime.combine(tomorrow, dt.time(15), tzinfo=SHANGHAI),
    )
    assert list(appointment.pickups.values_list("pk", flat=True)) == [world["hold"].pk]

    booked.first.locator("button", has_text="取消").click()
    sidebar.locator("#appt-status", has_text="已取消").wait_for(timeout=10000)
    assert Appointment.objects.get().status == Appointment.Status.CANCELLED
    assert sidebar.locator("#appt-list").inner_text().strip() == "暂无预约"
