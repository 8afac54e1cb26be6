"""Issue 25's Must-show for churn and consent, end to end:
- a customer deletes the associate in WeCom (the emulator) → the del_follow_user callback reaches Omni over HTTP →
  the friendship is recorded as lost, the associate and her store manager get the WeCom app message, and the
  manager's admin list of lost customers shows the customer with her value;
- the customer taps 不再接收 on her coupon page (Chromium) → the next campaign skips her (已退订) and the associate's
  next send from the chat sidebar (Chromium, in the emulator's chat) is refused with the reason on screen.
Screenshots go to artifacts/."""

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from associates.models import Associate
from campaigns.models import Campaign, CampaignRecipient
from campaigns.services import campaign_resolve
from clientbook.models import FollowRelation
from coupons.links import coupon_page_url
from coupons.models import Coupon
from customers.budget import contact_budget_spend
from customers.models import ConsentChange, ContactBudget, ContactCount, ContactTouch, Customer
from notices.models import Notice, NoticePreference
from tests import test_sidebar_ui as sidebar_ui
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    OrderFactory,
    StoreFactory,
    UserFactory,
)
from tests.live_emulator import live_emulator
from tests.test_sidebar_ui import ARTIFACTS, _customer_with_three_channels

CORP_ID, AGENT_ID, SECRET = "wwomnitest00000001", "1000002", "omni-test-secret"
TOKEN, AES_KEY = "OmniTestToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"
EXTERNAL_USERID = "wmSidebarChenJing000000000000001"


def _wait(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def callbacks_emulator(live_server, settings):
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, live_server.url, **config) as running:
        yield running


@pytest.mark.django_db(transaction=True)
def test_a_customer_deleting_the_associate_in_wecom_lands_in_the_lost_list_and_alerts(
    callbacks_emulator, client, live_server
):
    emulator = callbacks_emulator
    store = StoreFactory(code="SH01", name="上海静安店")
    lin = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    boss = AssociateFactory(store=store, wecom_userid="zhou", name="周店长", role=Associate.Role.STORE_MANAGER)
    for associate in (lin, boss):  # no quiet hours, whatever time the test runs
        NoticePreference.objects.create(associate=associate, quiet_start=dt.time(0), quiet_end=dt.time(0))
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "associates", {"userid": "zhou", "name": "周店长", "store": "上海静安店"})
    person = emulator.control("POST", "customers", {"name": "陈静", "gender": 2})
    emulator.control("POST", "contacts/add", {"external_userid": person["external_userid"], "userid": "linyu"})
    assert _wait(lambda: FollowRelation.objects.exists())
    follow = FollowRelation.objects.get()
    OrderFactory(customer=follow.customer, store=store, total_amount=Decimal("2398.00"))

    emulator.control(
        "POST", "contacts/delete", {"userid": "linyu", "external_userid": person["external_userid"], "by": "customer"}
    )

    assert _wait(lambda: Notice.objects.filter(associate=boss, status=Notice.Status.SENT).exists())
    follow.refresh_from_db()
    assert follow.ended_reason == FollowRelation.Ended.CUSTOMER and follow.ended_at is not None
    assert _wait(lambda: emulator.control("GET", "app_messages?userid=zhou")["app_messages"])
    [to_manager] = emulator.control("GET", "app_messages?userid=zhou")["app_messages"]
    assert to_manager["title"] == "客户流失：陈静 删除了导购 林雨"
    assert "累计消费 ¥2398.00" in to_manager["description"]
    assert _wait(
        lambda: (
            "客户删除了你：陈静"
            in [m["title"] for m in emulator.control("GET", "app_messages?userid=linyu")["app_messages"]]
        )
    )

    manager = UserFactory(username="zhou-admin")
    store.managers.add(manager)
    manager.user_permissions.add(Permission.objects.get(codename="view_lostcustomer"))
    client.force_login(manager)
    body = client.get("/admin/clientbook/lostcustomer/").content.decode()
    assert "陈静" in body and "¥2398.00" in body and "客户删除了导购" in body


emulator = sidebar_ui.emulator  # the sidebar tests' emulator: one host with Omni, no callbacks


def _open_chat(emulator, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    return page, page.frame_locator("#sidebar-frame")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_opt_out_on_the_coupon_page_refuses_the_next_campaign_and_the_next_sidebar_send(
    emulator, browser, live_server
):
    associate, customer = _customer_with_three_channels()
    store = associate.store
    FollowRelation.objects.create(
        associate=associate, customer=customer, external_userid=EXTERNAL_USERID, followed_at=timezone.now()
    )
    Customer.objects.filter(pk=customer.pk).update(marketing_consent=True)
    pack = CouponPackFactory(name="老客回购礼", description="好久不见，满300减50")
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(name="满300减50"))
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    ARTIFACTS.mkdir(exist_ok=True)

    # The customer opens her coupon page on her phone and taps 不再接收营销消息, then confirms.
    phone = browser.new_page(viewport={"width": 375, "height": 812}, locale="zh-CN", device_scale_factor=2)
    phone.goto(coupon_page_url(customer_id=customer.pk))
    phone.locator("a.unsubscribe").click()
    phone.locator("#unsubscribe button").wait_for(timeout=10000)
    phone.screenshot(path=str(ARTIFACTS / "coupon_unsubscribe_confirm.png"))
    phone.locator("#unsubscribe button").click()
    phone.locator("#unsubscribe h1", has_text="已为您退订").wait_for(timeout=10000)
    phone.screenshot(path=str(ARTIFACTS / "coupon_unsubscribe_done.png"))
    change = ConsentChange.objects.get()
    assert (change.customer_id, change.source, change.opted_out) == (customer.pk, "coupon_page", True)

    # The next campaign skips her.
    campaign = Campaign.objects.create(
        name="周末到店有礼", text="到店有礼", send_at=timezone.now(), created_by=UserFactory(), status="sending"
    )
    campaign.stores.add(store)
    campaign_resolve(campaign_id=campaign.pk)
    recipient = CampaignRecipient.objects.get(campaign=campaign, customer=customer)
    assert (recipient.status, recipient.skip_reason) == ("skipped", "opted_out")

    # The associate's next send from the chat sidebar is refused, with the reason on screen and the chip under her name.
    page, sidebar = _open_chat(emulator, browser)
    sidebar.locator("#budget-line.out").wait_for(timeout=20000)
    assert sidebar.locator("#budget-override").is_hidden() and sidebar.locator("#budget-opt-out").is_hidden()
    offer = sidebar.locator(f'#packs .pick[data-pack="{pack.pk}"]')
    offer.wait_for(timeout=20000)
    offer.locator("button").click()
    error = sidebar.locator("#error", has_text="退订营销消息")
    error.wait_for(timeout=10000)
    assert "券包页面「不再接收」" in error.inner_text()
    sidebar.locator("#header").scroll_into_view_if_needed()
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_send_refused_opted_out.png"))
    sidebar.locator("#budget-card").screenshot(path=str(ARTIFACTS / "sidebar_budget_card_opted_out.png"))
    assert Coupon.objects.count() == 0
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=EXTERNAL_USERID)["messages"]
    assert [m for m in transcript if m["msgtype"] == "news"] == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_sidebar_shows_colleagues_contacts_refuses_over_budget_and_allows_one_logged_exception(
    emulator, browser, live_server
):
    associate, customer = _customer_with_three_channels()
    colleague = AssociateFactory(store=associate.store, name="王芳")
    ContactBudget.objects.create(store=associate.store, per_week=2, allow_override=True)
    contact_budget_spend(customer_id=customer.pk, associate=colleague, channel=ContactTouch.Channel.COUPON, key="w1")
    packs = []
    for name in ("老客回购礼", "周末专享"):
        pack = CouponPackFactory(name=name)
        CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(name="满300减50"))
        packs.append(pack)
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})
    ARTIFACTS.mkdir(exist_ok=True)

    page, sidebar = _open_chat(emulator, browser)
    chip = sidebar.locator("#budget-chip", has_text="本周已被同事联系 1 次")
    chip.wait_for(timeout=20000)
    page.locator("#sidebar-frame").screenshot(path=str(ARTIFACTS / "sidebar_budget_chip.png"))
    first, second = (sidebar.locator(f'#packs .pick[data-pack="{p.pk}"]') for p in packs)
    first.wait_for(timeout=20000)
    first.locator("button").click()
    first.locator("button", has_text="已发送").wait_for(timeout=10000)
    second.locator("button").click()
    sidebar.locator("#error", has_text="已达每周上限 2 次").wait_for(timeout=10000)
    assert "本周已被联系 2 次" in sidebar.locator("#error").inner_text()

    # The store allows an exception: she logs why, and the send goes once.
    sidebar.locator("#budget-line", has_text="共 2/2 次，本周已达上限").wait_for(timeout=10000)
    form = sidebar.locator("#budget-override")
    form.wait_for(timeout=10000)
    sidebar.locator("#header").screenshot(path=str(ARTIFACTS / "sidebar_budget_refused_header.png"))
    sidebar.locator("#budget-card").screenshot(path=str(ARTIFACTS / "sidebar_budget_over_limit.png"))
    form.locator("input").fill("客户主动询问周末活动")
    form.locator("button").click()
    sidebar.locator("#budget-line", has_text="已记录例外").wait_for(timeout=10000)
    second.locator("button").click()
    second.locator("button", has_text="已发送").wait_for(timeout=10000)

    touches = list(
        ContactTouch.objects.filter(associate=associate).order_by("pk").values_list("override", "override_reason")
    )
    assert touches == [(False, ""), (True, "客户主动询问周末活动")]
    assert ContactCount.objects.get(customer=customer).used == 3
    assert Coupon.objects.filter(customer=customer).count() == 2
