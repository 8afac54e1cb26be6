"""In a real browser: the member's level and points, sent by the loyalty system through the members API, on the
sidebar's first screen in the emulator's chat and on the customer's coupon page; and her mall order, taken back at
a store's till through the POS API, in the sidebar's purchase history. Screenshots go to artifacts/."""

import datetime as dt

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from coupons.links import coupon_page_token
from customers.ingestion import api_key_create
from customers.models import Channel, Identity, Membership, Order
from tests import test_sidebar_ui as sidebar_ui
from tests.factories import IdentityFactory
from tests.test_sidebar_ui import ARTIFACTS, _customer_with_three_channels

pytestmark = pytest.mark.browser

EXTERNAL_USERID = "wmSidebarChenJing000000000000001"
emulator = sidebar_ui.emulator


@pytest.mark.django_db(transaction=True)
def test_the_level_and_points_from_the_members_api_show_in_the_sidebar_and_on_the_coupon_page(
    emulator, browser, live_server
):
    associate, customer = _customer_with_three_channels()
    IdentityFactory(customer=customer, kind=Identity.Kind.MALL_ACCOUNT, value="MALL-CJ-1")
    expire_on = timezone.localdate() + dt.timedelta(days=23)
    _, secret = api_key_create(name="会员系统", channel=Channel.ONLINE_MALL)
    sent = requests.post(
        f"{live_server.url}/api/v1/members/batch",
        json={
            "members": [
                {
                    "external_id": "MALL-CJ-1",
                    "level": "金卡",
                    "points": 3200,
                    "points_expiring": 1200,
                    "points_expire_on": expire_on.isoformat(),
                }
            ]
        },
        headers={"Authorization": f"Api-Key {secret}"},
        timeout=10,
    )
    assert sent.status_code == 200, sent.text
    assert Membership.objects.get().customer_id == customer.pk
    mall_order = Order.objects.get(customer=customer, channel=Channel.ONLINE_MALL)
    _, pos_secret = api_key_create(name="上海静安店 POS", channel=Channel.STORE_POS, stores=[associate.store])
    returned = requests.post(
        f"{live_server.url}/api/v1/orders/returns",
        json={
            "request_no": "SH01-R-0001",
            "order_no": mall_order.external_id,
            "order_channel": "online_mall",
            "store": "SH01",
            "refund_amount": "420.00",
            "lines": [{"line_no": 1, "quantity": 1}],
        },
        headers={"Authorization": f"Api-Key {pos_secret}"},
        timeout=10,
    )
    assert returned.status_code == 201, returned.text
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    sidebar = page.frame_locator("#sidebar-frame")
    expiring = sidebar.locator("#points-expiring")
    expiring.wait_for(timeout=20000)

    chips = sidebar.locator("#chips").inner_text()
    assert "会员等级 金卡" in chips and "积分 3,200" in chips
    assert "银卡" not in chips  # the brand's level stands in for Omni's spend tier
    assert expiring.inner_text() == f"1,200 积分将于 {expire_on.isoformat()} 过期"
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_member_points.png"))
    newest = sidebar.locator("#orders .order").first
    assert "退货" in newest.inner_text() and "上海静安店" in newest.inner_text()
    assert "修护精华 30ml 退1件" in newest.inner_text() and "¥-420" in newest.inner_text()
    sidebar.locator("#orders-card").scroll_into_view_if_needed()
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_order_returned.png"))

    phone = browser.new_page(viewport={"width": 375, "height": 812}, locale="zh-CN", device_scale_factor=2)
    token = coupon_page_token(customer_id=customer.pk)
    phone.goto(live_server.url + reverse("coupon-page", kwargs={"token": token}))
    member = phone.locator("#membership")
    member.wait_for(timeout=10000)
    assert "金卡会员" in member.inner_text() and "3200" in member.inner_text()
    assert f"1200 积分将于 {expire_on.year}年{expire_on.month}月{expire_on.day}日 过期" in member.inner_text()
    phone.screenshot(path=str(ARTIFACTS / "coupon_page_member_points.png"))
