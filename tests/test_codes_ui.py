"""Must-show, end to end through the WeCom emulator and Chromium: a store manager creates a store code in admin → a new
customer scans it in the emulator (新客户扫码添加) → the welcome with the code's pack arrives within WeCom's 20 s, the
code's tags are on the customer in WeCom and in Omni, the code's figures count the add → the customer buys (orders
API) → the first-purchase conversion appears. Screenshots (and the code's poster) go to artifacts/."""

import io
import time

import pytest
import zxingcpp
from django.contrib.auth.models import Permission
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from clientbook.models import ContactWay, FollowRelation
from customers.ingestion import api_key_create
from customers.models import Channel, CustomerTag, Tag
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)
from tests.live_emulator import live_emulator
from tests.test_sidebar_ui import AES_KEY, AGENT_ID, ARTIFACTS, CORP_ID, SECRET, TOKEN
from wecom.client import wecom_client

pytestmark = pytest.mark.browser

MANAGER_PERMISSIONS = [
    ("clientbook", "add_contactway"),
    ("clientbook", "change_contactway"),
    ("clientbook", "view_contactway"),
    ("clientbook", "add_contactwayslot"),
    ("clientbook", "change_contactwayslot"),
    ("clientbook", "view_contactwayslot"),
    ("clientbook", "delete_contactwayslot"),
]


@pytest.fixture
def emulator(live_server, settings):
    omni = live_server.url.replace("localhost", "127.0.0.1")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, omni, **config) as running:
        settings.WECOM_JSSDK_URL = f"{running.url}/jssdk/jwxwork.js"
        settings.OMNI_FRAME_ANCESTORS = [running.url]
        running.omni = omni
        yield running


def _wait(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _manager(store):
    manager = UserFactory(username="manager_sh01", is_staff=True)
    manager.user_permissions.set(
        Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in MANAGER_PERMISSIONS
    )
    store.managers.add(manager)
    return manager


def _signed_in_page(browser, omni: str, user):
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": omni}])
    return context, context.new_page()


@pytest.mark.django_db(transaction=True)
def test_a_store_code_made_in_admin_welcomes_tags_counts_and_converts_a_scanning_customer(emulator, browser):
    store = StoreFactory(code="SH01", name="上海静安店", address="南京西路 1601 号")
    StoreFactory(code="BJ01", name="北京三里屯店")
    lin = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    pack = CouponPackFactory(name="收银台新客礼")
    pack.stores.set([store])
    CouponPackItemFactory(pack=pack)
    tag = Tag.objects.create(group="渠道", name="收银台扫码")
    ProductFactory(sku="DRESS-1")
    ARTIFACTS.mkdir(exist_ok=True)
    omni = emulator.omni
    context, page = _signed_in_page(browser, omni, _manager(store))

    # The manager creates a store code in admin: for the counter, with its welcome, pack, tag and 林雨 on duty.
    page.goto(f"{omni}/admin/clientbook/contactway/add/")
    page.select_option("#id_kind", "store")
    assert page.locator("#id_store option").all_inner_texts() == ["---------", "上海静安店（SH01）"]  # store-scoped
    page.select_option("#id_store", label="上海静安店（SH01）")
    page.fill("#id_label", "静安店收银台")
    page.select_option("#id_channel", "counter")
    page.fill("#id_welcome_text", "欢迎光临{store}！我是导购{associate}，新客礼券已放入您的券包～")
    page.select_option("#id_welcome_pack_id", label="收银台新客礼")
    page.select_option("#id_tags", label="渠道/收银台扫码")
    page.select_option("#id_slots-0-associate", label=str(lin))
    page.fill("#id_slots-0-daily_limit", "50")
    page.screenshot(path=str(ARTIFACTS / "codes_admin_add.png"), full_page=True)
    page.click("input[name=_save]")
    page.wait_for_selector("#result_list")
    code = ContactWay.objects.get()
    assert (code.kind, code.store, code.welcome_pack_id, code.routed_userids) == ("store", store, pack.pk, ["linyu"])
    assert code.config_id and code.qr_code
    assert "生效中" in page.locator("#result_list").inner_text()
    page.screenshot(path=str(ARTIFACTS / "codes_admin_list.png"), full_page=True)

    # The poster: store branding, and a QR that decodes to the code's scan URL in the emulator.
    poster = context.request.get(f"{omni}/admin/clientbook/contactway/{code.pk}/poster.png")
    assert poster.status == 200 and poster.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(poster.body()))
    image.save(ARTIFACTS / "codes_poster.png")
    decoded = [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
    assert decoded == [f"{emulator.url}/scan/contact_way/{code.config_id}"]

    # A new customer scans it in the emulator's UI (新客户扫码添加).
    ui = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    ui.goto(emulator.url + "/")
    ui.select_option("#associate-select", "linyu")
    ui.click("#scan-new")
    ui.fill("#scan-name", "陈静")
    ui.select_option("#scan-way", f"contact_way:{code.config_id}")
    scanned_at = time.monotonic()
    ui.click("#scan-go")
    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT).exists())
    assert time.monotonic() - scanned_at <= 20
    follow = FollowRelation.objects.select_related("customer").get()
    assert (follow.associate, follow.contact_way, follow.customer.primary_store) == (lin, code, store)

    # The welcome carries the code's text and pack.
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=follow.external_userid)
    welcome = [m for m in transcript["messages"] if m["kind"] == "welcome"]
    assert [m["msgtype"] for m in welcome] == ["text", "link"]
    assert welcome[0]["body"]["content"] == "欢迎光临上海静安店！我是导购林雨，新客礼券已放入您的券包～"
    assert "收银台新客礼" in welcome[1]["body"]["title"]
    ui.click(f'#customer-list li[data-external-userid="{follow.external_userid}"]')
    ui.wait_for_timeout(500)
    ui.screenshot(path=str(ARTIFACTS / "codes_emulator_scanned.png"))

    # The code's tag is on the customer in WeCom and in Omni.
    tag.refresh_from_db()
    contact = wecom_client().external_contact.get(follow.external_userid)
    assert [t["tag_id"] for t in contact["follow_user"][0]["tags"]] == [tag.wecom_tag_id]
    assert list(CustomerTag.objects.filter(customer=follow.customer).values_list("tag", flat=True)) == [tag.pk]

    # The code's figures count the add.
    stats_url = f"{omni}/admin/clientbook/contactway/{code.pk}/stats/"
    page.goto(stats_url)
    assert page.locator("#total-adds").inner_text() == "1"
    assert page.locator("#total-converted").inner_text() == "0"

    # She buys at the till (the brand's orders API) → the first-purchase conversion and its sales appear.
    _, secret = api_key_create(name="POS", channel=Channel.STORE_POS)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    order = {
        "external_id": "P-CODE-1",
        "placed_at": follow.followed_at.isoformat(),
        "store": "SH01",
        "customer": {"identities": [{"kind": "wecom_external_userid", "value": follow.external_userid}]},
        "lines": [{"sku": "DRESS-1", "quantity": 1, "unit_price": "899.00", "discount": "0.00"}],
    }
    response = api.post("/api/v1/orders/batch", {"orders": [order]}, format="json")
    assert response.status_code in (200, 201), response.content
    page.goto(stats_url)
    assert page.locator("#total-converted").inner_text() == "1"
    assert page.locator("#total-sales").inner_text() == "899.00"
    page.screenshot(path=str(ARTIFACTS / "codes_admin_stats.png"), full_page=True)
    csv_text = context.request.get(f"{stats_url}?days=30&format=csv").text()
    assert csv_text.splitlines()[-1].split(",")[1:4] == ["1", "0", "1"]
    context.close()


@pytest.mark.django_db(transaction=True)
def test_the_emulators_new_customer_opens_an_acquisition_link_and_omni_attributes_the_add(emulator, browser):
    from clientbook.codes import code_create

    store = StoreFactory(code="SH01", name="上海静安店")
    AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    link = code_create(
        kind=ContactWay.Kind.LINK, store=store, label="双十二短信", channel="sms", welcome_text="短信来的朋友您好"
    )
    ARTIFACTS.mkdir(exist_ok=True)

    ui = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    ui.goto(emulator.url + "/")
    ui.select_option("#associate-select", "linyu")
    ui.click("#scan-new")
    ui.fill("#scan-name", "赵敏")
    ui.select_option("#scan-way", f"link:{link.link_id}")
    ui.fill("#scan-channel", link.state)
    ui.locator("#scan-form").screenshot(path=str(ARTIFACTS / "codes_emulator_scan_form.png"))
    ui.click("#scan-go")

    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT).exists())
    follow = FollowRelation.objects.get()
    assert (follow.contact_way, follow.add_way, follow.state) == (link, 16, link.state)
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=follow.external_userid)
    assert [m["body"] for m in transcript["messages"] if m["kind"] == "welcome"] == [{"content": "短信来的朋友您好"}]
