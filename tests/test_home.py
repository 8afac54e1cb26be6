"""`/`: staff go to the admin; in the demo, an index page of the demo's URLs and logins that fits a phone; elsewhere,
the admin's sign-in. Never Django's 404. The browser test saves artifacts/home_demo_390.png."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from demo.brand import ADMIN_PASSWORD, ADMIN_USERNAME, DEMO_PASSWORD, DEMO_STORES, HQ_USERNAME
from tests.factories import UserFactory

ARTIFACTS = Path(django_settings.BASE_DIR) / "artifacts"
EMULATOR = "http://127.0.0.1:8101"


@pytest.fixture
def demo(settings):
    settings.OMNI_DEMO = True
    settings.WECOM_EMULATOR_URL = EMULATOR


@pytest.mark.django_db
def test_outside_the_demo_a_visitor_goes_to_the_admin_sign_in(client, settings):
    settings.OMNI_DEMO = False

    response = client.get("/", follow=True)

    assert response.redirect_chain == [("/admin/", 302), ("/admin/login/?next=/admin/", 302)]
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("in_demo", [False, True])
def test_staff_go_to_the_admin(client, settings, in_demo):
    settings.OMNI_DEMO = in_demo
    client.force_login(UserFactory(is_staff=True))

    response = client.get("/")

    assert (response.status_code, response["Location"]) == (302, "/admin/")


@pytest.mark.django_db
def test_outside_the_demo_a_signed_in_non_staff_user_goes_to_the_admin_too(client, settings):
    settings.OMNI_DEMO = False
    client.force_login(UserFactory(is_staff=False))

    response = client.get("/")

    assert (response.status_code, response["Location"]) == (302, "/admin/")


@pytest.mark.django_db
def test_in_the_demo_the_index_names_the_admin_the_api_the_emulator_and_the_logins(client, demo):
    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    for url in ("http://testserver/admin/", "http://testserver/api/docs/", "http://testserver/api/schema/"):
        assert f'href="{url}"' in page
    assert f'href="{EMULATOR}/"' in page
    logins = [(ADMIN_USERNAME, ADMIN_PASSWORD), (HQ_USERNAME, DEMO_PASSWORD)]
    logins += [(store.manager_username, DEMO_PASSWORD) for store in DEMO_STORES]
    for username, password in logins:
        assert f"<td><code>{username}</code></td><td><code>{password}</code></td>" in page
    assert "<td>店长 陈静（SH01）</td>" in page


@pytest.mark.django_db
def test_in_the_demo_without_an_emulator_url_the_index_leaves_the_emulator_out(client, demo, settings):
    settings.WECOM_EMULATOR_URL = ""

    page = client.get("/").content.decode()

    assert "企业微信模拟器" not in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_390px_phone_nothing_on_the_demo_index_is_wider_than_the_screen(live_server, browser, demo):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=2)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/", timeout=15_000)
        page.get_by_text("演示账号").wait_for(timeout=10_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "home_demo_390.png"), full_page=True)

        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        too_wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(el => el.getBoundingClientRect().right > 390)
                .map(el => el.tagName + ' ' + (el.textContent || '').trim().slice(0, 30))"""
        )
    finally:
        context.close()

    assert scroll_width <= 390
    assert too_wide == []
