"""End to end in a real browser, through the WeCom emulator: the associate searches the quick replies in the chat
sidebar, sends one with variables, and the chat's transcript shows it filled for the customer; then sends an image
material whose media_id WeCom had already forgotten, which is uploaded again and lands in the chat.

Debian's Chromium driven by Playwright; the phone-sized screenshots go to docs/day_quick_replies.png and
docs/day_materials.png.
"""

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from demo.library import picture_png
from library.models import Material, QuickReply, ReplyGroup, SentMessage
from library.services import material_media_id
from tests import test_sidebar_ui as sidebar_ui
from tests.test_sidebar_ui import _customer_with_three_channels

pytestmark = pytest.mark.browser

DOCS = Path(django_settings.BASE_DIR) / "docs"
EXTERNAL_USERID = "wmSidebarChenJing000000000000001"
emulator = sidebar_ui.emulator


def _phone_sidebar(emulator, browser, live_server):
    """The chat opened in the emulator (which signs the associate in and tells the JS-SDK stand-in the chat), then
    Omni's sidebar on a 390×844 phone screen in the same browser."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2)
    chat = context.new_page()
    chat.set_viewport_size({"width": 1440, "height": 900})
    chat.goto(emulator.url + "/")
    chat.select_option("#associate-select", "linyu")
    chat.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    chat.frame_locator("#sidebar-frame").locator("#library-replies .reply").first.wait_for(timeout=20000)
    phone = context.new_page()
    phone.goto(live_server.url.replace("localhost", "127.0.0.1") + "/sidebar/")
    return phone


def _transcript(emulator) -> list[dict]:
    return emulator.control("GET", "transcript", userid="linyu", external_userid=EXTERNAL_USERID)["messages"]


@pytest.mark.django_db(transaction=True)
def test_a_searched_reply_goes_out_filled_and_an_expired_image_is_uploaded_again_and_sent(
    emulator, browser, live_server
):
    associate, customer = _customer_with_three_channels()
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    greeting = ReplyGroup.objects.create(name="开场问候")
    sizes = ReplyGroup.objects.create(name="售后与尺码", position=10)
    QuickReply.objects.create(group=greeting, title="初次问候", text="{客户称呼}您好，我是{门店}的{导购}～")
    reply = QuickReply.objects.create(
        group=sizes,
        title="尺码建议",
        text="{客户称呼}，这款真丝连衣裙版型偏大半码，建议选小一码；到{门店}找{导购}可以先试穿。",
    )
    QuickReply.objects.create(
        store=associate.store, group=greeting, title="周末到店礼", text="{客户名}，周末到店试穿送小样"
    )
    image = Material.objects.create(
        kind="image",
        title="秋冬新品海报",
        description="新品上市",
        content=picture_png(),
        filename="autumn.png",
        content_type="image/png",
    )
    Material.objects.create(
        kind="link", title="秋冬穿搭指南", description="5 套通勤搭配", link_url="https://e.example/l"
    )
    Material.objects.create(
        kind="miniprogram", title="栖木会员中心", miniprogram_appid="wxqimu", miniprogram_page="pages/m", position=200
    )
    # The poster went to WeCom earlier; three days on WeCom's clock it no longer keeps it, while Omni's copy of the
    # upload time is fresh (Omni's clock did not move), so only WeCom's refusal can tell.
    stale = material_media_id(material=image)
    emulator.control("POST", "clock", {"advance_seconds": 3 * 24 * 3600 + 1})

    phone = _phone_sidebar(emulator, browser, live_server)
    card = phone.locator("#library-card")
    card.locator("#library-replies .reply").first.wait_for(timeout=20000)

    # Search 尺码: only the size reply, already filled for 陈静.
    card.locator("#library-search input").fill("尺码")
    row = card.locator(f'#library-replies .reply[data-reply="{reply.pk}"]')
    row.wait_for(timeout=10000)
    phone.wait_for_function("document.querySelectorAll('#library-replies .reply').length === 1", timeout=10000)
    filled = "陈女士，这款真丝连衣裙版型偏大半码，建议选小一码；到上海静安店找林雨可以先试穿。"
    assert row.locator(".text").inner_text() == filled
    row.locator("button", has_text="发送").click()
    row.locator("button", has_text="已发送").wait_for(timeout=10000)
    card.evaluate("el => el.scrollIntoView({block: 'start'})")
    phone.screenshot(path=str(DOCS / "day_quick_replies.png"))

    texts = [m["body"]["content"] for m in _transcript(emulator) if m["msgtype"] == "text"]
    assert texts[-1] == filled
    record = SentMessage.objects.get(reply=reply)
    assert (record.associate, record.customer, record.message["text"]["content"]) == (associate, customer, filled)

    # The poster: sendChatMessage refuses the forgotten media_id, the sidebar asks for a fresh upload and sends it.
    card.locator("#library-search input").fill("")
    card.locator("#library-tab-materials").click()
    poster = card.locator(f'#library-materials .material[data-material="{image.pk}"]')
    poster.wait_for(timeout=10000)
    poster.locator("button", has_text="发送").click()
    poster.locator("button", has_text="已发送").wait_for(timeout=20000)
    card.evaluate("el => el.scrollIntoView({block: 'start'})")
    phone.screenshot(path=str(DOCS / "day_materials.png"))

    image.refresh_from_db()
    images = [m for m in _transcript(emulator) if m["msgtype"] == "image"]
    assert [m["body"]["mediaid"] for m in images] == [image.media_id]
    assert image.media_id != stale
    sent = SentMessage.objects.get(material=image)
    assert sent.message["image"]["mediaid"] == image.media_id
    refused = emulator.control("GET", "calls", api="media/upload", errcode="0")["count"]
    assert refused == 2
