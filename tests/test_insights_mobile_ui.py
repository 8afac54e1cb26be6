"""The performance dashboard on a phone (Debian's Chromium through Playwright, 390 × 844): a store manager and HQ open
it on the demo brand, with figures in the default window, and nothing is wider than the screen; the wide tables
scroll inside their own card. Screenshots go to artifacts/insights_dashboard_390_<login>.png."""

from io import StringIO

import pytest
from django.core.management import call_command

from demo.brand import DEMO_PASSWORD, HQ_USERNAME
from tests.test_insights_ui import ARTIFACTS

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 390, 844

# Every visible element whose box leaves the viewport sideways, unless a horizontally scrolling box that itself fits
# holds it (a table scrolling inside its card).
OVERFLOW = """(width) => {
  const scrollsInside = (el) => {
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      const overflowX = getComputedStyle(box).overflowX;
      if (overflowX === "auto" || overflowX === "scroll") {
        const rect = box.getBoundingClientRect();
        return rect.left >= -0.5 && rect.right <= width + 0.5;
      }
    }
    return false;
  };
  const outside = [];
  for (const el of document.body.querySelectorAll("*")) {
    const rect = el.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0 || getComputedStyle(el).visibility === "hidden") continue;
    if (rect.left >= -0.5 && rect.right <= width + 0.5) continue;
    if (scrollsInside(el)) continue;
    outside.push(`${el.tagName.toLowerCase()}.${el.className && el.className.baseVal === undefined ? el.className : ""}`
      + ` ${Math.round(rect.left)}..${Math.round(rect.right)}`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, outside: outside};
}"""


@pytest.fixture
def demo(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", customers=300, stdout=StringIO())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("username", ["manager_sh01", HQ_USERNAME])
def test_the_dashboard_fits_a_phone_for_a_store_manager_and_for_hq(username, demo, live_server, browser):
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=2, is_mobile=True)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/insights/dailystats/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("svg.chart")

    # the default window has figures: the leaderboard and the stores are filled in
    assert page.title().startswith("业绩看板")
    assert "这段时间还没有数据" not in page.content()
    assert page.locator(".insights table").first.locator("tbody tr").count() > 1

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"insights_dashboard_390_{username}.png"), full_page=True)
    fit = page.evaluate(OVERFLOW, WIDTH)
    assert fit["outside"] == []
    assert fit["scrollWidth"] <= WIDTH

    # and the leaderboard, wider than the phone, scrolls inside its card, its figures on one line each
    board = page.locator(".insights .table-scroll").first
    assert board.evaluate("el => el.scrollWidth > el.clientWidth")
    assert page.locator(".insights td.num").first.evaluate("el => getComputedStyle(el).whiteSpace") == "nowrap"
