"""End to end in a real browser: the emulator's chat opens Omni's sidebar, which signs in through WeCom OAuth,
finds the customer through the JS-SDK stand-in, shows orders from three channels, and adds a tag and a note.

Debian's Chromium driven by Playwright; screenshots go to artifacts/.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from clientbook.models import FollowRelation, FollowUpTask
from customers.models import Channel, Customer, CustomerNote, CustomerTag, Identity, Order, Product
from suggestions.models import ComplementRule, Outreach, SuggestionModel
from suggestions.services import suggestion_model_build
from tests.factories import (
    AssociateFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
    StoreStockFactory,
)
from tests.live_emulator import live_emulator

ARTIFACTS = Path(django_settings.BASE_DIR) / "artifacts"
CORP_ID, AGENT_ID, SECRET = "wwsidebartest00001", "1000002", "sidebar-secret"
TOKEN, AES_KEY = "SidebarToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"

pytestmark = pytest.mark.browser


@pytest.fixture
def emulator(live_server, settings):
    # One host for both, as in the demo: to a browser localhost and 127.0.0.1 are different sites, and a
    # cross-site frame gets no session cookie.
    omni = live_server.url.replace("localhost", "127.0.0.1")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    oa = {"oa_appid": "wx5a1e5c0de0000003", "oa_secret": "5ec7e7000000000000000000000000cc"}
    with live_emulator(settings, omni, **config, **oa, callbacks=False) as running:
        settings.WECOM_JSSDK_URL = f"{running.url}/jssdk/jwxwork.js"
        settings.OMNI_FRAME_ANCESTORS = [running.url]
        yield running


def _customer_with_three_channels():
    store = StoreFactory(code="SH01", name="上海静安店")
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    customer = CustomerFactory(
        name="陈静", gender="female", primary_store=store, primary_associate=associate, phone="+8613812345678"
    )
    IdentityFactory(customer=customer, kind=Identity.Kind.PHONE, value="+8613812345678")
    IdentityFactory(
        customer=customer, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value="wmSidebarChenJing000000000000001"
    )
    dress = ProductFactory(name="真丝连衣裙 黑色 M", category="dress", size="M")
    belt = ProductFactory(name="细皮带 棕色", category="belt")
    serum = ProductFactory(name="修护精华 30ml", category="serum")
    for channel, order_store, days, fulfilment, lines in [
        (Channel.STORE_POS, store, 60, Order.Fulfilment.IN_STORE, [(dress, "1699.00"), (belt, "299.00")]),
        (Channel.MINI_PROGRAM, store, 25, Order.Fulfilment.STORE_PICKUP, [(serum, "420.00")]),
        (Channel.ONLINE_MALL, None, 4, Order.Fulfilment.DELIVERY, [(serum, "420.00")]),
    ]:
        order = OrderFactory(
            customer=customer,
            channel=channel,
            store=order_store,
            fulfilment=fulfilment,
            placed_at=timezone.now() - timedelta(days=days),
            total_amount=sum(Decimal(price) for _, price in lines),
        )
        for n, (product, price) in enumerate(lines, start=1):
            OrderLineFactory(order=order, line_no=n, product=product, quantity=1, unit_price=Decimal(price))
    return associate, customer


@pytest.mark.django_db(transaction=True)
def test_the_sidebar_in_a_chat_shows_the_customer_across_channels_and_takes_a_tag_and_a_note(emulator, browser):
    associate, customer = _customer_with_three_channels()
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control(
        "POST", "customers", {"name": "陈静", "gender": 2, "external_userid": "wmSidebarChenJing000000000000001"}
    )
    emulator.control("POST", "contacts/add", {"external_userid": "wmSidebarChenJing000000000000001", "userid": "linyu"})
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click('#customer-list li[data-external-userid="wmSidebarChenJing000000000000001"]')
    sidebar = page.frame_locator("#sidebar-frame")
    try:
        sidebar.locator("#orders .order").nth(2).wait_for(timeout=20000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "sidebar_in_chat.png"))

    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_mobile.png"))
    assert sidebar.locator("#name").inner_text() == "陈静"
    assert [sidebar.locator("#orders .order").nth(i).get_attribute("data-channel") for i in range(3)] == [
        "online_mall",
        "mini_program",
        "store_pos",
    ]
    assert "¥2,838" in sidebar.locator("#figures").inner_text()
    assert "138****5678" in sidebar.locator("#identities").inner_text()
    assert "13812345678" not in sidebar.locator("#app").inner_text()

    sidebar.locator("#tag-form input").fill("真丝控")
    sidebar.locator("#tag-form button").click()
    sidebar.locator("#tags .chip", has_text="真丝控").wait_for(timeout=10000)
    sidebar.locator("#note-form textarea").fill("穿 M 码，喜欢黑色，周末到店")
    sidebar.locator("#note-form button").click()
    sidebar.locator("#notes .note", has_text="周末到店").wait_for(timeout=10000)
    sidebar.locator("#task-form input[name=title]").fill("周六到店试穿提醒")
    sidebar.locator("#task-form input[name=due_on]").fill("2026-11-28")
    sidebar.locator("#task-form button").click()
    sidebar.locator("#tasks .task button").click()
    sidebar.locator("#tasks .task.done").wait_for(timeout=10000)
    sidebar.locator("body").evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "sidebar_in_chat.png"))

    assert CustomerTag.objects.get(customer=customer).tag.name == "真丝控"
    assert FollowUpTask.objects.get(customer=customer, associate=associate).done_at is not None
    note = CustomerNote.objects.get(customer=customer)
    assert (note.text, note.author_id) == ("穿 M 码，喜欢黑色，周末到店", associate.pk)


@pytest.mark.django_db(transaction=True)
def test_a_contact_not_yet_known_shows_what_wecom_knows_and_links_to_the_member(emulator, browser):
    store = StoreFactory(code="SH01", name="上海静安店")
    AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    member = CustomerFactory(name="周晓（会员）", primary_store=store)
    IdentityFactory(customer=member, kind=Identity.Kind.POS_MEMBER_NO, value="M0042")
    OrderFactory(customer=member, channel=Channel.STORE_POS, store=store, total_amount=Decimal("899.00"))
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    external_userid = emulator.control("POST", "customers", {"name": "周晓", "gender": 2, "unionid": "ou-zhouxiao"})[
        "external_userid"
    ]
    # Added in WeCom, but the callback never reached Omni (callbacks are off): Omni has no record of them.
    emulator.control("POST", "contacts/add", {"external_userid": external_userid, "userid": "linyu", "add_way": 1})
    emulator.control(
        "POST", "contacts/edit", {"userid": "linyu", "external_userid": external_userid, "remark": "周小姐 想要连衣裙"}
    )
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{external_userid}"]')
    sidebar = page.frame_locator("#sidebar-frame")
    try:
        sidebar.locator("#link-card").wait_for(state="visible", timeout=20000)
        sidebar.locator("#avatar img").wait_for(timeout=10000)
    finally:
        page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_unlinked_contact.png"))

    assert sidebar.locator("#name").inner_text() == "周晓"
    assert "仅企业微信信息" in sidebar.locator("#chips").inner_text()
    assert sidebar.locator("#avatar img").get_attribute("src") == f"{emulator.url}/avatar/{external_userid}.svg"
    assert sidebar.locator("#avatar img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert sidebar.locator("#wecom-card").is_visible()
    assert [sidebar.locator(f"#wecom-{part}").inner_text() for part in ("remark", "add-way", "type")] == [
        "周小姐 想要连衣裙",
        "扫描二维码",
        "微信用户",
    ]
    assert sidebar.locator("#wecom-followed").inner_text() == timezone.localdate().isoformat()
    assert sidebar.locator("#wecom-only").is_visible()

    # The typed number is only a claim: the card goes into the chat, and nothing is linked yet.
    sidebar.locator("#link-form input[name=member_no]").fill("M0042")
    sidebar.locator("#link-form button").click()
    sidebar.locator("#link-status").get_by_text("已发送给客户确认").wait_for(timeout=10000)
    assert Customer.objects.get(identities__value=external_userid).pk != member.pk
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=external_userid)["messages"]
    card = [m for m in transcript if m["msgtype"] == "news"][-1]["body"]
    assert card["title"] == "请确认您的会员身份"

    # The customer opens the card in their WeChat and confirms; the associate opens the chat again.
    phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
    phone.goto(f"{emulator.url}/wechat/open?{urlencode({'external_userid': external_userid, 'url': card['link']})}")
    assert "M0****42" in phone.locator(".claim").inner_text()
    phone.get_by_text("是我，确认关联").click()
    phone.get_by_text("已确认，谢谢！").wait_for(timeout=10000)
    page.click(f'#customer-list li[data-external-userid="{external_userid}"]')
    sidebar = page.frame_locator("#sidebar-frame")
    sidebar.locator("#link-card").wait_for(state="hidden", timeout=20000)
    sidebar.locator("#orders .order").first.wait_for(timeout=10000)

    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_linked_contact.png"))
    assert sidebar.locator("#name").inner_text() == "周晓（会员）"
    assert "仅企业微信信息" not in sidebar.locator("#chips").inner_text()
    assert sidebar.locator("#avatar").inner_text().startswith("周")
    assert not sidebar.locator("#wecom-only").is_visible()
    stub = Customer.objects.get(identities__value=external_userid, merged_into__isnull=True)
    assert stub.pk == member.pk
    assert FollowRelation.objects.get().customer_id == member.pk


@pytest.mark.django_db(transaction=True)
def test_suggestions_in_the_sidebar_go_to_the_chat_as_a_product_card_and_are_recorded(emulator, browser):
    associate, customer = _customer_with_three_channels()
    store = associate.store
    # A scarf nobody has bought yet, in stock here: the manager's rule "dress → scarf" puts it forward.
    scarf = ProductFactory(sku="QM-SC01-RD", name="真丝方巾 红色", category="scarf", price=Decimal("399.00"))
    StoreStockFactory(store=store, product=scarf, quantity=3)
    for product in Product.objects.exclude(pk=scarf.pk):
        StoreStockFactory(store=store, product=product, quantity=5)
    ComplementRule.objects.create(category="dress", complements="scarf")
    assert suggestion_model_build().status == SuggestionModel.Status.READY
    external_userid = "wmSidebarChenJing000000000000001"
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": external_userid})
    emulator.control("POST", "contacts/add", {"external_userid": external_userid, "userid": "linyu"})
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{external_userid}"]')
    sidebar = page.frame_locator("#sidebar-frame")
    pick = sidebar.locator('#suggestions .pick[data-sku="QM-SC01-RD"]')
    try:
        pick.wait_for(timeout=20000)
        pick.scroll_into_view_if_needed()
    finally:
        page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_suggestions.png"))

    assert "连衣裙" in pick.locator(".why").inner_text() and "门店 3 件" in pick.inner_text()
    # The serum was bought 4 days ago: not due again, so not suggested.
    assert "修护精华" not in sidebar.locator("#suggestions").inner_text()
    pick.locator("button").click()
    pick.locator("button", has_text="已发送").wait_for(timeout=10000)

    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=external_userid)["messages"]
    card = [m for m in transcript if m["msgtype"] == "news"][-1]["body"]
    assert card["title"] == "真丝方巾 红色" and card["link"].endswith("/p/QM-SC01-RD/")
    outreach = Outreach.objects.get()
    assert (outreach.associate_id, outreach.customer_id, outreach.product_id) == (associate.pk, customer.pk, scarf.pk)

    # The customer asks about the dress: the associate finds it by name, opens it, and asks what goes with it.
    dress = Product.objects.get(name="真丝连衣裙 黑色 M")
    sidebar.locator("#products-form input[name=q]").fill("连衣裙")
    sidebar.locator("#products-form button", has_text="搜索").click()
    sidebar.locator(f'#products-results .pick[data-sku="{dress.sku}"]').click()
    sidebar.locator("#product-addons").click()
    sidebar.locator('#products-addons .pick[data-sku="QM-SC01-RD"]').wait_for(timeout=10000)
    assert dress.sku not in [
        sidebar.locator("#products-addons .pick").nth(i).get_attribute("data-sku")
        for i in range(sidebar.locator("#products-addons .pick").count())
    ]
    sidebar.locator("#products-addons .pick").first.scroll_into_view_if_needed()
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_addons.png"))
