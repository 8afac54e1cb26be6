"""The product panel end to end in Chromium through the WeCom emulator: the associate scans a barcode with WeCom's
camera (wx.scanQRCode in the emulator), the product opens with its sizes and stock here and nearby, the card goes to
the chat, and the customer's mini-program order for that SKU, ingested through the orders API, is credited to the
associate. Saves docs/day_products.png (390×844)."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from customers.ingestion import api_key_create
from customers.models import Channel, Identity, Order
from insights.attribution import attribution_refresh
from insights.models import Attribution
from suggestions.models import Outreach
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    IdentityFactory,
    ProductFactory,
    StoreFactory,
    StoreStockFactory,
)
from tests.live_emulator import live_emulator

DOCS = Path(django_settings.BASE_DIR) / "docs"
EXTERNAL_USERID = "wmProductsChenJing00000000000001"
BARCODE = "6901234567892"

pytestmark = pytest.mark.browser
CORP_ID, AGENT_ID, SECRET = "wwproductstest0001", "1000002", "products-secret"
TOKEN, AES_KEY = "ProductsToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"


@pytest.fixture
def emulator(live_server, settings):
    # One host for both, as in the demo: a cross-site frame would get no session cookie.
    omni = live_server.url.replace("localhost", "127.0.0.1")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, omni, **config, callbacks=False) as running:
        settings.WECOM_JSSDK_URL = f"{running.url}/jssdk/jwxwork.js"
        settings.OMNI_FRAME_ANCESTORS = [running.url]
        yield running


def _shop():
    store = StoreFactory(code="SH01", name="上海静安店", city="上海", latitude="31.228611", longitude="121.454722")
    near = StoreFactory(code="SH02", name="上海徐汇店", city="上海", latitude="31.188000", longitude="121.437000")
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    customer = CustomerFactory(name="陈静", primary_store=store, primary_associate=associate, phone="+8613812345678")
    IdentityFactory(customer=customer, kind=Identity.Kind.PHONE, value="+8613812345678")
    IdentityFactory(customer=customer, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=EXTERNAL_USERID)
    dresses = [
        ProductFactory(
            sku=f"QM-DR01-BK-{size}",
            name=f"真丝连衣裙 黑色 {size}",
            style_code="QM-DR01",
            size=size,
            category="dress",
            price=Decimal("1699.00"),
            barcode=f"690123456789{n}",
        )
        for n, size in enumerate(["S", "M", "L"])
    ]
    for dress, here, there in zip(dresses, [1, 0, 3], [2, 4, 0], strict=True):
        StoreStockFactory(store=store, product=dress, quantity=here)
        StoreStockFactory(store=near, product=dress, quantity=there)
    return associate, customer, dresses[2]


def _open_chat(emulator, page):
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    sidebar = page.frame_locator("#sidebar-frame")
    sidebar.locator("#name", has_text="陈静").wait_for(timeout=20000)
    return sidebar


@pytest.mark.django_db(transaction=True)
def test_a_scanned_barcode_opens_the_product_its_card_goes_to_the_chat_and_the_order_is_credited(emulator, browser):
    associate, customer, dress_l = _shop()
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    sidebar = _open_chat(emulator, page)

    # when the associate scans the dress's barcode with WeCom's camera (the emulator's scan dialog)
    sidebar.locator("#products-scan").click()
    page.locator("#dialog[open]").wait_for(timeout=10000)
    page.select_option("#dialog-fields [name=kind]", "barCode")
    page.fill("#dialog-fields [name=text]", BARCODE)
    page.click("#dialog-ok")

    # then the product opens on the scanned size, with the style's sizes and the stock here and nearby
    detail = sidebar.locator("#product-detail")
    detail.locator(".title", has_text="真丝连衣裙 黑色 L").wait_for(timeout=10000)
    assert detail.get_attribute("data-sku") == "QM-DR01-BK-L"
    assert [detail.locator(".variant").nth(i).inner_text() for i in range(3)] == ["L · 3", "M", "S · 1"]
    assert "本店 3 件" in detail.inner_text() and "附近门店暂无库存" in detail.inner_text()
    detail.locator('.variant[data-sku="QM-DR01-BK-M"]').click()
    assert "上海徐汇店 4 件" in detail.locator(".nearby").inner_text()
    detail.locator('.variant[data-sku="QM-DR01-BK-L"]').click()

    # when the card is sent, it is in the chat and recorded
    sidebar.locator("#product-send").click()
    sidebar.locator("#product-send", has_text="已发送").wait_for(timeout=10000)
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=EXTERNAL_USERID)["messages"]
    card = [m for m in transcript if m["msgtype"] == "news"][-1]["body"]
    assert card["title"] == "真丝连衣裙 黑色 L" and card["link"].endswith("/p/QM-DR01-BK-L/")
    page.locator("#transcript", has_text="真丝连衣裙 黑色 L").wait_for(timeout=10000)
    outreach = Outreach.objects.get()
    assert (outreach.associate_id, outreach.customer_id, outreach.product_id, outreach.source) == (
        associate.pk,
        customer.pk,
        dress_l.pk,
        "manual",
    )

    # when the customer then buys it in the mini-program (the brand's system pushes the order)
    _, secret = api_key_create(name="小程序", channel=Channel.MINI_PROGRAM)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    order = {
        "external_id": "MP-1",
        "placed_at": (outreach.sent_at + timedelta(hours=1)).isoformat(),
        "customer": {"phone": "13812345678"},
        "lines": [{"sku": "QM-DR01-BK-L", "quantity": 1, "unit_price": "1699.00"}],
    }
    response = client.post("/api/v1/orders/batch", {"orders": [order]}, format="json")
    assert response.status_code == 200, response.content
    attribution_refresh()

    # then the order is the associate's sale
    (row,) = Attribution.objects.filter(order__external_id="MP-1")
    assert (row.associate_id, row.store_id, row.amount) == (associate.pk, associate.store_id, Decimal("1699.00"))
    assert Order.objects.get(external_id="MP-1").customer_id == customer.pk

    # the panel on a phone (390×844), the sidebar on its own: the scan comes from WeCom's camera prompt
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.on("dialog", lambda dialog: dialog.accept(BARCODE))
    phone.goto(page.locator("#sidebar-frame").get_attribute("src"))
    phone.locator("#name", has_text="陈静").wait_for(timeout=20000)
    phone.locator("#products-scan").click()
    phone.locator("#product-detail .title", has_text="真丝连衣裙 黑色 L").wait_for(timeout=10000)
    phone.evaluate("document.getElementById('products-card').scrollIntoView({block: 'start'})")
    DOCS.mkdir(exist_ok=True)
    phone.screenshot(path=str(DOCS / "day_products.png"))
    context.close()
