"""In a real browser: after a campaign with a coupon pack went out, each customer taps the card in the chat of the
emulator's WeChat and lands on their own coupon page, whose QR code decodes to their own coupon's code; someone
who was not sent the campaign gets the page that is the same for everyone.

Debian's Chromium driven by Playwright; every wait is bounded; screenshots go to artifacts/.
"""

import io

import pytest
import zxingcpp
from PIL import Image

from coupons.models import Coupon
from tests import test_campaign_landing as landing
from tests.test_campaign_landing import CHEN, STRANGER, WANG, send_campaign_with_a_pack
from tests.test_sidebar_ui import ARTIFACTS

pytestmark = pytest.mark.browser

emulator = landing.emulator
WAIT_MS = 15000


@pytest.fixture
def quiet_sidebar(emulator, settings):
    """The emulator's chat also frames Omni's sidebar; keep its sign-in on the emulator, never the real WeCom."""
    settings.WECOM_OAUTH_AUTHORIZE_URL = emulator.authorize_url
    settings.WECOM_JSSDK_URL = f"{emulator.url}/jssdk/jwxwork.js"


def _card_link_in_chat(browser, emulator, external_userid: str, screenshot: str | None = None) -> str:
    """Open the customer's chat in the emulator and read the card's "在客户微信中打开" link."""
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    try:
        page.set_default_timeout(WAIT_MS)
        page.set_default_navigation_timeout(WAIT_MS)
        page.goto(emulator.url + "/")
        page.select_option("#associate-select", "linyu")
        page.click(f'#customer-list li[data-external-userid="{external_userid}"]')
        link = page.locator("#transcript a.open-in-wechat")
        link.wait_for()
        if screenshot:
            page.screenshot(path=str(ARTIFACTS / screenshot))
        return emulator.url + link.get_attribute("href")
    finally:
        page.close()


def _on_a_phone(browser, contexts: list, url: str, screenshot: str):
    """A phone of its own (its own cookies, closed by the caller through `contexts`) opens `url`."""
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN", device_scale_factor=2)
    contexts.append(context)
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
    finally:
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    return page


def _qr_codes(ticket) -> list[str]:
    image = Image.open(io.BytesIO(ticket.locator("svg.qr").screenshot())).convert("L")
    return [found.text for found in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


@pytest.mark.django_db(transaction=True)
def test_each_customer_taps_the_campaign_card_in_wechat_and_sees_only_their_own_scannable_coupon(
    emulator, quiet_sidebar, browser
):
    sent = send_campaign_with_a_pack(emulator)
    ARTIFACTS.mkdir(exist_ok=True)
    chen_link = _card_link_in_chat(browser, emulator, CHEN, screenshot="campaign_card_in_chat.png")
    wang_link = _card_link_in_chat(browser, emulator, WANG)
    chen_coupon = Coupon.objects.get(customer=sent.people["chen"])
    wang_coupon = Coupon.objects.get(customer=sent.people["wang"])

    contexts = []
    try:
        for name, link, own, other in [
            ("chen", chen_link, chen_coupon, wang_coupon),
            ("wang", wang_link, wang_coupon, chen_coupon),
        ]:
            phone = _on_a_phone(browser, contexts, link, f"campaign_landing_{name}_coupons.png")
            ticket = phone.locator(f'article.ticket[data-code="{own.code}"]')
            ticket.wait_for()
            assert "/c/" in phone.url
            assert "满300减50" in ticket.inner_text()
            assert phone.locator("article.ticket").count() == 1
            assert phone.locator(f'article.ticket[data-code="{other.code}"]').count() == 0
            assert _qr_codes(ticket) == [own.code]

        stranger_link = chen_link.replace(CHEN, STRANGER)
        phone = _on_a_phone(browser, contexts, stranger_link, "campaign_landing_generic.png")
        phone.get_by_role("heading", name=sent.campaign.name, exact=True).wait_for()
        assert f"/m/{sent.campaign.landing_token}/" in phone.url
        assert "会员日券包" in phone.content()
        assert phone.locator("article.ticket").count() == 0
    finally:
        for context in contexts:
            context.close()
