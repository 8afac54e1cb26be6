"""The hold journey end to end in Chromium through the WeCom emulator: the associate opens a product in the sidebar,
her size is sold out in her own store, she holds one at another store for the customer, the pickup card lands in the
chat's transcript and opens on a phone, the till scans the pickup code through the POS API, and the sale is credited
to her and to the holding store (Attribution and the daily figures). Screenshots in artifacts/."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from customers.ingestion import api_key_create
from customers.models import Channel, Identity, Order, StoreStock
from fulfilment.models import Pickup
from insights.attribution import attribution_refresh
from insights.models import Attribution, DailyStats
from insights.stats import daily_stats_refresh
from notices.models import Notice
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    IdentityFactory,
    ProductFactory,
    StoreFactory,
    StoreStockFactory,
)
from tests.test_products_ui import emulator  # noqa: F401 (the live emulator fixture)
from tests.test_sidebar_ui import ARTIFACTS

EXTERNAL_USERID = "wmProductsChenJing00000000000001"

pytestmark = pytest.mark.browser


def _shop():
    here = StoreFactory(code="SH01", name="上海静安店", city="上海", latitude="31.228611", longitude="121.454722")
    there = StoreFactory(
        code="SH02",
        name="上海徐汇店",
        city="上海",
        latitude="31.188000",
        longitude="121.437000",
        address="上海市徐汇区衡山路 10 号",
        opening_hours="10:00–22:00",
        hold_hours=48,
    )
    associate = AssociateFactory(store=here, wecom_userid="linyu", name="林雨")
    colleague = AssociateFactory(store=there, wecom_userid="zhouqi", name="周琪")
    customer = CustomerFactory(name="陈静", primary_store=here, primary_associate=associate, phone="+8613812345678")
    IdentityFactory(customer=customer, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=EXTERNAL_USERID)
    dresses = {
        size: ProductFactory(
            sku=f"QM-DR01-BK-{size}",
            name=f"真丝连衣裙 黑色 {size}",
            style_code="QM-DR01",
            size=size,
            colour="黑色",
            category="dress",
            price=Decimal("1699.00"),
        )
        for size in ("S", "M", "L")
    }
    for size, at_here, at_there in (("S", 1, 0), ("M", 0, 2), ("L", 3, 1)):
        StoreStockFactory(store=here, product=dresses[size], quantity=at_here)
        StoreStockFactory(store=there, product=dresses[size], quantity=at_there)
    return here, there, associate, colleague, customer


@pytest.mark.django_db(transaction=True)
def test_sold_out_here_held_there_card_in_chat_collected_at_the_till_and_credited(emulator, browser):  # noqa: F811
    _, there, associate, colleague, _ = _shop()
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    sidebar = page.frame_locator("#sidebar-frame")
    sidebar.locator("#name", has_text="陈静").wait_for(timeout=20000)

    # when she searches the dress and picks size M: sold out here, two at Xuhui
    sidebar.locator("#products-form [name=q]").fill("连衣裙")
    sidebar.locator("#products-form button", has_text="搜索").click()
    sidebar.locator("#products-results .pick").first.click()
    detail = sidebar.locator("#product-detail")
    detail.locator('.variant[data-sku="QM-DR01-BK-M"]').click()
    stores = detail.locator("#hold-stores")
    stores.locator('.store[data-store="SH02"] button.hold').wait_for(timeout=10000)
    own = stores.locator('.store[data-store="SH01"]')
    assert "本店" in own.inner_text() and "M 本店已售罄" in own.inner_text()
    assert own.locator("button.hold").count() == 0
    assert "M 可预留 2 件" in stores.locator('.store[data-store="SH02"]').inner_text()
    sidebar.locator("#hold-stores").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "holds_stores_sidebar.png"))

    # when she holds one there for the customer
    stores.locator('.store[data-store="SH02"] button.hold').click()
    stores.locator('.store[data-store="SH02"] button.hold', has_text="已预留").wait_for(timeout=10000)

    # then the stock is reserved, the holding store is told, and the pickup card is in the chat
    pickup = Pickup.objects.get()
    assert (pickup.store, pickup.associate, pickup.status) == (there, associate, "held")
    assert StoreStock.objects.filter(store=there, product__sku="QM-DR01-BK-M").values_list(
        "quantity", "held"
    ).get() == (
        2,
        1,
    )
    assert Notice.objects.filter(associate=colleague, kind=Notice.Kind.HOLD).count() == 1
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=EXTERNAL_USERID)["messages"]
    card = [m for m in transcript if m["msgtype"] == "news"][-1]["body"]
    assert card["title"] == "已为你预留：真丝连衣裙 黑色 M" and card["imgUrl"].endswith("/static/omni/pickup-card.png")
    assert card["link"].endswith(f"/h/{pickup.token}/") and pickup.code in card["desc"]
    page.locator("#transcript", has_text="已为你预留").wait_for(timeout=10000)
    sidebar.locator("#holds .hold-item", has_text=pickup.code).wait_for(timeout=10000)
    sidebar.locator("#holds-card").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "holds_card_in_chat.png"))

    # the customer opens the card on her phone
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(card["link"])
    phone.locator("[data-code]", has_text=pickup.code).wait_for(timeout=10000)
    text = phone.locator("main").inner_text()
    for expected in ("真丝连衣裙 黑色 M", "尺码 M", "上海徐汇店", "衡山路 10 号", "10:00–22:00"):
        assert expected in text
    assert phone.locator("svg.qr").count() == 1
    phone.screenshot(path=str(ARTIFACTS / "holds_pickup_card_390.png"), full_page=True)

    # when the customer comes to Xuhui and the till scans the code
    _, secret = api_key_create(name="徐汇 POS", channel=Channel.STORE_POS, stores=[there], scopes=["pickups"])
    pos = APIClient()
    pos.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    response = pos.post(
        "/api/v1/pickups/collect", {"store": "SH02", "code": pickup.code, "request_id": "till-1"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["credited"] == {"associate": "linyu", "store": "SH02"}

    # then the sale is hers and Xuhui's
    attribution_refresh()
    today = timezone.localdate()
    daily_stats_refresh(start=today - dt.timedelta(days=1), end=today)
    order = Order.objects.get(external_id=f"PU-{pickup.code}")
    (row,) = Attribution.objects.filter(order=order)
    assert (row.associate, row.store, row.amount, row.touch_kind) == (associate, there, Decimal("1699.00"), "pickup")
    figures = DailyStats.objects.filter(day=today, associate=associate)
    assert sum(f.gmv for f in figures) == Decimal("1699.00")
    assert sum(f.gmv for f in DailyStats.objects.filter(day=today, store=there)) >= Decimal("1699.00")
    assert StoreStock.objects.filter(store=there, product__sku="QM-DR01-BK-M").values_list(
        "quantity", "held"
    ).get() == (
        1,
        0,
    )

    # and the sidebar shows the hold collected
    frame = page.locator("#sidebar-frame").element_handle().content_frame()
    frame.evaluate("document.dispatchEvent(new Event('omni:customer'))")  # the panels' "customer (re)opened" event
    sidebar.locator("#holds .hold-item.closed", has_text="已取货").wait_for(timeout=20000)
    sidebar.locator("#holds-card").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "holds_collected_sidebar.png"))

    # the same panel on a phone (390×844), the sidebar on its own
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(page.locator("#sidebar-frame").get_attribute("src"))
    phone.locator("#name", has_text="陈静").wait_for(timeout=20000)
    phone.fill("#products-form [name=q]", "连衣裙")
    phone.click("#products-form button:has-text('搜索')")
    phone.locator("#products-results .pick").first.click()
    phone.locator('#product-detail .variant[data-sku="QM-DR01-BK-M"]').click()
    phone.locator('#hold-stores .store[data-store="SH02"]', has_text="可预留 1 件").wait_for(timeout=10000)
    phone.evaluate("document.getElementById('hold-stores').scrollIntoView({block: 'start'})")
    phone.screenshot(path=str(ARTIFACTS / "holds_stores_390.png"))
    context.close()
