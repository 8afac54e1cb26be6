"""End to end in a real browser: an associate sends a coupon pack from the sidebar in the emulator's chat, the
customer opens the card's link and sees the coupon with a QR code that decodes to its code, the till redeems it
through the POS API, and the sidebar then shows it redeemed.

Debian's Chromium driven by Playwright; screenshots go to artifacts/.
"""

import io
from decimal import Decimal

import pytest
import requests
import zxingcpp
from PIL import Image

from coupons.models import Coupon, IssueRequest, Redemption
from customers.ingestion import api_key_create
from customers.models import Channel
from tests import test_sidebar_ui as sidebar_ui
from tests.factories import CouponPackFactory, CouponPackItemFactory, CouponTemplateFactory
from tests.test_sidebar_ui import ARTIFACTS, _customer_with_three_channels

pytestmark = pytest.mark.browser

EXTERNAL_USERID = "wmSidebarChenJing000000000000001"
# The sidebar tests' emulator (one host with Omni) and Chromium.
emulator = sidebar_ui.emulator


def _open_chat(emulator, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    return page, page.frame_locator("#sidebar-frame")


@pytest.mark.django_db(transaction=True)
def test_a_pack_sent_from_the_sidebar_opens_as_scannable_coupons_and_shows_redeemed_after_the_till(
    emulator, browser, live_server
):
    associate, customer = _customer_with_three_channels()
    store = associate.store
    pack = CouponPackFactory(name="老客回购礼", description="好久不见，满300减50")
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(name="满300减50"))
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    ARTIFACTS.mkdir(exist_ok=True)

    # The associate taps 发送 on the pack in the chat sidebar.
    page, sidebar = _open_chat(emulator, browser)
    offer = sidebar.locator(f'#packs .pick[data-pack="{pack.pk}"]')
    offer.wait_for(timeout=20000)
    assert "满300减50" in offer.inner_text()
    offer.locator("button").click()
    offer.locator("button", has_text="已发送").wait_for(timeout=10000)
    sidebar.locator("#coupons .coupon.issued").wait_for(timeout=10000)
    offer.scroll_into_view_if_needed()
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_coupon_sent.png"))
    coupon = Coupon.objects.get()
    assert (coupon.customer_id, coupon.associate_id, IssueRequest.objects.get().source) == (
        customer.pk,
        associate.pk,
        "sidebar",
    )

    # The card in the chat links to the customer's coupon page.
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=EXTERNAL_USERID)["messages"]
    card = [m for m in transcript if m["msgtype"] == "news"][-1]["body"]
    assert card["title"] == "上海静安店送您的专属券包：老客回购礼"
    phone = browser.new_page(viewport={"width": 375, "height": 812}, locale="zh-CN", device_scale_factor=2)
    phone.goto(card["link"])
    ticket = phone.locator(f'article.ticket[data-code="{coupon.code}"]')
    ticket.wait_for(timeout=10000)
    assert "满300减50" in ticket.inner_text()
    phone.screenshot(path=str(ARTIFACTS / "coupon_page_from_chat.png"))
    qr = Image.open(io.BytesIO(ticket.locator("svg.qr").screenshot())).convert("L")
    assert [found.text for found in zxingcpp.read_barcodes(qr, formats=zxingcpp.BarcodeFormat.QRCode)] == [coupon.code]

    # The till scans it and redeems it through the POS API.
    _, secret = api_key_create(name="上海静安店 POS", channel=Channel.STORE_POS, stores=[store])
    redeemed = requests.post(
        f"{live_server.url}/api/v1/coupons/redeem/",
        json={
            "code": coupon.code,
            "store": store.code,
            "order_ref": "POS-0001",
            "amount": "420.00",
            "request_no": "till-1",
        },
        headers={"Authorization": f"Api-Key {secret}"},
        timeout=10,
    )
    assert redeemed.status_code == 201, redeemed.text
    assert Decimal(redeemed.json()["discount"]) == Decimal("50.00")
    assert Redemption.objects.get().credited_associate_id == associate.pk

    # Back in the chat, the sidebar shows the coupon redeemed.
    page.reload()
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    held = sidebar.locator(f'#coupons .coupon.redeemed[data-coupon="{coupon.pk}"]')
    held.wait_for(timeout=20000)
    assert "已核销" in held.inner_text()
    held.scroll_into_view_if_needed()
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_coupon_redeemed.png"))
