"""End to end in a real browser, through the WeCom emulator: the associate removes a tag in the sidebar's tag picker
and it is gone in WeCom (the emulator's follow); an admin deletes a tag in WeCom (the emulator's admin console) and
the change_external_tag callback takes it out of Omni, and out of the sidebar's picker.

Debian's Chromium driven by Playwright; screenshots go to artifacts/.
"""

import time

import pytest
from django.utils import timezone

from clientbook.models import FollowRelation
from customers.models import CustomerTag, Tag
from customers.tags import tag_group_create
from tests import test_sidebar_ui as sidebar_ui
from tests.test_sidebar_ui import ARTIFACTS, _customer_with_three_channels

pytestmark = pytest.mark.browser

EXTERNAL_USERID = "wmSidebarChenJing000000000000001"
emulator = sidebar_ui.emulator


def _wait(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _wecom_tag_ids(emulator) -> list[str]:
    follows = emulator.control("GET", "tags")["follows"]
    return next(f["tag_ids"] for f in follows if f["external_userid"] == EXTERNAL_USERID)


def _chat_with_tags(emulator):
    associate, customer = _customer_with_three_channels()
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    FollowRelation.objects.create(
        associate=associate, customer=customer, external_userid=EXTERNAL_USERID, followed_at=timezone.now()
    )
    tag_group_create(name="肤质", tag_names=["敏感肌", "油性肌"])
    tag_group_create(name="静安店活动", tag_names=["周末沙龙"], store=associate.store)
    return associate, customer


def _open_chat(emulator, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.on("dialog", lambda dialog: dialog.accept())  # the console's "删除…？" confirm
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    return page, page.frame_locator("#sidebar-frame")


@pytest.mark.django_db(transaction=True)
def test_a_tag_added_and_removed_in_the_sidebar_is_added_and_removed_in_wecom(emulator, browser):
    _, customer = _chat_with_tags(emulator)
    sensitive, oily = Tag.objects.get(name="敏感肌"), Tag.objects.get(name="油性肌")
    ARTIFACTS.mkdir(exist_ok=True)
    page, sidebar = _open_chat(emulator, browser)
    picker = sidebar.locator("#tag-picker-card")
    picker.locator(f'.tp-tag[data-tag="{sensitive.pk}"][data-on="0"]').wait_for(timeout=20000)
    assert picker.locator(".tp-group-name").all_inner_texts() == ["肤质", "静安店活动本店"]

    picker.locator(f'.tp-tag[data-tag="{sensitive.pk}"]').click()
    picker.locator(f'.tp-tag[data-tag="{sensitive.pk}"][data-on="1"]').wait_for(timeout=20000)
    picker.locator(f'.tp-tag[data-tag="{oily.pk}"]').click()
    picker.locator(f'.tp-tag[data-tag="{oily.pk}"][data-on="1"]').wait_for(timeout=20000)
    assert sorted(_wecom_tag_ids(emulator)) == sorted([sensitive.wecom_tag_id, oily.wecom_tag_id])
    picker.scroll_into_view_if_needed()
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "tags_sidebar_two_on.png"))

    picker.locator(f'.tp-tag[data-tag="{sensitive.pk}"]').click()
    picker.locator(f'.tp-tag[data-tag="{sensitive.pk}"][data-on="0"]').wait_for(timeout=20000)

    assert _wecom_tag_ids(emulator) == [oily.wecom_tag_id]
    assert list(CustomerTag.objects.filter(customer=customer).values_list("tag__name", flat=True)) == ["油性肌"]
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "tags_sidebar_removed.png"))


@pytest.mark.django_db(transaction=True)
def test_a_tag_deleted_in_the_wecom_console_leaves_omni_by_the_callback(emulator, browser):
    _, customer = _chat_with_tags(emulator)
    emulator.control("POST", "faults", {"callbacks": "on"})
    sensitive = Tag.objects.get(name="敏感肌")
    emulator.control(
        "POST",
        "tags/mark",
        {"userid": "linyu", "external_userid": EXTERNAL_USERID, "add_tag": [sensitive.wecom_tag_id]},
    )
    assert _wait(lambda: CustomerTag.objects.filter(customer=customer, tag=sensitive).exists())
    ARTIFACTS.mkdir(exist_ok=True)
    page, sidebar = _open_chat(emulator, browser)
    sidebar.locator(f'#tag-picker-card .tp-tag[data-tag="{sensitive.pk}"][data-on="1"]').wait_for(timeout=20000)
    console_tag = page.locator(f'#tag-list li.tag[data-tag-id="{sensitive.wecom_tag_id}"]')
    console_tag.wait_for(timeout=10000)
    page.screenshot(path=str(ARTIFACTS / "tags_console_before_delete.png"))

    console_tag.locator("button.danger").click()

    assert _wait(lambda: not Tag.objects.filter(pk=sensitive.pk).exists())
    assert not CustomerTag.objects.filter(customer=customer).exists()
    assert _wecom_tag_ids(emulator) == []
    page.locator(f'#tag-list li.tag[data-tag-id="{sensitive.wecom_tag_id}"]').wait_for(state="detached", timeout=10000)
    page.screenshot(path=str(ARTIFACTS / "tags_console_after_delete.png"))
    _, sidebar = _open_chat(emulator, browser)  # the chat opened again: the picker no longer offers it
    oily = Tag.objects.get(name="油性肌")
    sidebar.locator(f'#tag-picker-card .tp-tag[data-tag="{oily.pk}"]').wait_for(timeout=20000)
    assert sidebar.locator("#tag-picker-card .tp-tag").all_inner_texts() == ["油性肌", "周末沙龙"]
    # The panels above load as they scroll into view and grow: scroll, let them settle, scroll again.
    card = sidebar.locator("#tag-picker-card")
    for _ in range(3):
        card.scroll_into_view_if_needed()
        time.sleep(1)
    card.screenshot(path=str(ARTIFACTS / "tags_sidebar_after_console_delete.png"))
