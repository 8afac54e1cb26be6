"""End to end in a real browser on the demo brand, through the WeCom emulator: the store manager signs in to admin by
scanning the WeCom QR code, imports a month's target for an associate as CSV; the associate opens 我的业绩 in the
WeCom app and sees the progress bar; the manager opens the store's month on their phone.

Debian's Chromium driven by Playwright at 390 × 844; screenshots go to docs/day_my_month.png and
docs/day_manager.png (and artifacts/)."""

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from associates.models import Associate
from insights.models import SalesTarget
from insights.selectors import store_month_get
from tests.live_emulator import live_emulator
from tests.test_insights_mobile_ui import OVERFLOW

pytestmark = pytest.mark.browser

DOCS = Path(django_settings.BASE_DIR) / "docs"
ARTIFACTS = Path(django_settings.BASE_DIR) / "artifacts"
CORP_ID, AGENT_ID, SECRET = "wwmymonthtest00001", "1000002", "my-month-secret"
TOKEN, AES_KEY = "MyMonthToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"
WIDTH, HEIGHT = 390, 844


@pytest.fixture
def emulator(live_server, settings):
    omni = live_server.url.replace("localhost", "127.0.0.1")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, omni, **config, callbacks=False) as running:
        settings.OMNI_FRAME_ANCESTORS = [running.url]
        yield running


@pytest.mark.django_db(transaction=True)
def test_a_target_imported_by_the_manager_shows_on_the_associates_and_the_managers_phone(emulator, browser):
    call_command("seed_demo", customers=300, stdout=StringIO())
    manager = Associate.objects.get(wecom_userid="chenjing")
    # the store's best-selling associate this month (not the manager), so the bar has something to show
    month = store_month_get(store=manager.store, today=timezone.localdate())
    associate = next(row.associate for row in month.rows if row.associate.pk != manager.pk)
    for person in (manager, associate):
        emulator.control("POST", "associates", {"userid": person.wecom_userid, "name": person.name, "store": "SH01"})
    omni = emulator.emulator.config.sidebar_url.removesuffix("/sidebar/")
    before = store_month_get(store=associate.store, today=timezone.localdate()).row_of(associate.pk)
    target = max(1000, int(before.month_gmv * 16 // 10000 * 1000))
    ARTIFACTS.mkdir(exist_ok=True)

    # the manager signs in to admin with WeCom: the QR page in the emulator, scanned and confirmed as 陈静
    desk = browser.new_page(viewport={"width": 1280, "height": 900})
    desk.goto(f"{omni}/admin/login/?next=/admin/insights/salestarget/")
    desk.screenshot(path=str(ARTIFACTS / "admin_login_wecom.png"))
    desk.click("#wecom-login")
    desk.wait_for_selector("img.qr")
    desk.screenshot(path=str(ARTIFACTS / "admin_wecom_qr.png"))
    desk.click("button[data-userid=chenjing]")
    desk.wait_for_url(f"{omni}/admin/insights/salestarget/")
    # and imports this month's target for the associate as CSV
    desk.click("#import-targets")
    csv_path = ARTIFACTS / "targets.csv"
    csv_path.write_text(
        f"month,store,associate,amount,new_customers\n{timezone.localdate():%Y-%m},SH01,{associate.wecom_userid},{target},20\n"
    )
    desk.set_input_files("input[type=file]", str(csv_path))
    desk.click("input[type=submit]")
    desk.wait_for_selector(".messagelist")
    assert "已导入" in desk.inner_text(".messagelist")
    assert SalesTarget.objects.get(associate=associate, month=timezone.localdate().replace(day=1)).amount == target

    # the associate opens 我的业绩 in the WeCom app (OAuth through the emulator): the target and the progress bar
    phone = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=2, is_mobile=True)
    phone.goto(f"{omni}/workbench/")
    phone.click(f"text={associate.name}（SH01）")
    phone.click("#link-month")
    phone.wait_for_selector("#progress")
    assert f"目标 {target} 元" in phone.inner_text("#progress")
    width = phone.eval_on_selector(".bar .fill", "el => parseFloat(el.style.width)")
    assert width == pytest.approx(min(100.0, float(before.month_gmv) / target * 100), abs=0.1)
    assert phone.evaluate(OVERFLOW, WIDTH)["outside"] == []
    phone.screenshot(path=str(DOCS / "day_my_month.png"))

    # 陈静, the manager, opens the store's month on her phone: every associate by sales, progress against targets
    boss = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=2, is_mobile=True)
    boss.goto(f"{omni}/workbench/")
    boss.click("text=陈静（SH01）")
    boss.click("#link-store")
    boss.wait_for_selector("#associates")
    names = boss.locator("tr.associate td:nth-child(2) > a").all_inner_texts()
    assert (
        associate.name in names
        and len(names) == Associate.objects.filter(store=associate.store, is_active=True).count()
    )
    assert boss.locator("tr.associate .bar .fill").count() >= 1
    assert boss.evaluate(OVERFLOW, WIDTH)["outside"] == []
    boss.screenshot(path=str(DOCS / "day_manager.png"))
    boss.click(f"tr.associate >> text={associate.name}")
    boss.wait_for_selector("#progress")
    assert f"{associate.name}的业绩" in boss.content()
