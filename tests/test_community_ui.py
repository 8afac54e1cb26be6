"""End to end in a real browser: the associate invites a customer from the chat sidebar, the poster lands in the
chat, its QR code decodes to the emulator's join URL, the customer joins through it (real encrypted
change_external_chat callbacks to Omni), the invite is marked joined and the sidebar shows the membership.

Debian's Chromium driven by Playwright; screenshots go to artifacts/.
"""

import io
import time

import pytest
import requests
import zxingcpp
from PIL import Image

from communities.models import Community, CommunityInviteCode, GroupChat, GroupMember, GroupMemberEvent, Invite
from communities.services import group_chat_refresh
from tests import test_sidebar_ui as sidebar_ui
from tests.test_sidebar_ui import ARTIFACTS, _customer_with_three_channels

pytestmark = pytest.mark.browser

EXTERNAL_USERID = "wmSidebarChenJing000000000000001"
emulator = sidebar_ui.emulator


def _open_chat(emulator, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    return page, page.frame_locator("#sidebar-frame")


def _wait(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.django_db(transaction=True)
def test_an_invite_from_the_sidebar_is_joined_through_the_poster_and_the_sidebar_shows_the_membership(
    emulator, browser
):
    associate, customer = _customer_with_three_channels()
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    chat_id = emulator.control("POST", "groups", {"owner": "linyu", "name": "静安老友群"})["group_chat"]["chat_id"]
    group_chat_refresh(chat_id=chat_id)
    community = Community.objects.create(store=associate.store, name="静安会员俱乐部", brand_color="#C94838")
    community.chats.add(GroupChat.objects.get(chat_id=chat_id))
    ARTIFACTS.mkdir(exist_ok=True)

    # The sidebar says she is not in the community yet; the associate taps 邀请进群.
    page, sidebar = _open_chat(emulator, browser)
    sidebar.locator('#community[data-state="outside"]').wait_for(timeout=20000)
    sidebar.locator("#community-invite").click()
    sidebar.locator("#community-invite", has_text="已发送邀请").wait_for(timeout=20000)
    invite = Invite.objects.get()
    assert (invite.associate, invite.customer, invite.status) == (associate, customer, "sent")

    # The poster is in the chat transcript, and its QR code is the emulator's join URL of this associate's code.
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=EXTERNAL_USERID)["messages"]
    poster = [m for m in transcript if m["msgtype"] == "image"][-1]
    assert poster["body"]["mediaid"] == invite.media_id
    image_bytes = requests.get(f"{emulator.url}/media/{invite.media_id}", timeout=10).content
    image = Image.open(io.BytesIO(image_bytes))
    image.save(ARTIFACTS / "community_poster_in_chat.png")
    code = CommunityInviteCode.objects.get()
    decoded = [f.text for f in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
    assert decoded == [f"{emulator.url}/scan/join_way/{code.config_id}"]
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_community_invited.png"))
    page.screenshot(path=str(ARTIFACTS / "community_invite_chat.png"))

    # The customer scans it: WeCom adds her to the group and calls Omni back (encrypted, for real).
    emulator.control("POST", "faults", {"callbacks": "on"})
    emulator.control("POST", "groups/join", {"config_id": code.config_id, "member": EXTERNAL_USERID})

    assert _wait(lambda: Invite.objects.get().status == "joined"), emulator.control("GET", "deliveries")
    invite.refresh_from_db()
    assert (invite.joined_chat.chat_id, invite.left_at) == (chat_id, None)
    member = GroupMember.objects.get(chat__chat_id=chat_id, userid=EXTERNAL_USERID)
    assert (member.customer, member.invite_code, member.join_scene, member.is_member) == (customer, code, 3, True)
    assert GroupMemberEvent.objects.get(member=member, kind="join").credited_associate == associate

    # Back in the chat, the sidebar shows her in the group, invited by 林雨.
    page.reload()
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    card = sidebar.locator('#community[data-state="member"]')
    card.wait_for(timeout=20000)
    assert "已在群「静安老友群」" in card.inner_text()
    assert "林雨邀请" in card.inner_text()
    assert sidebar.locator("#community-invite").is_hidden()
    card.scroll_into_view_if_needed()
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_community_joined.png"))
