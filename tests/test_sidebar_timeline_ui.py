"""The customer timeline (轨迹) in a real browser: the emulator's chat opens Omni's sidebar; the timeline reads
nothing until its panel is scrolled into view, then shows every kind of event newest first, and "加载更多" reads
the next page. Debian's Chromium through Playwright; the 390 × 844 screenshot is docs/day_timeline.png."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from customers.models import CustomerNote, Identity
from sidebar.timeline import KIND_LABELS
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, StoreFactory
from tests.test_sidebar_ui import emulator  # noqa: F401 - the live Omni + WeCom emulator fixture
from tests.timeline_world import EXTERNAL_USERID, timeline_world_make

DOCS = Path(django_settings.BASE_DIR) / "docs"
OLDER_NOTES = 8

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_the_timeline_loads_when_scrolled_to_and_shows_every_kind(emulator, browser):  # noqa: F811
    store = StoreFactory(code="SH01", name="上海静安店")
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    customer = CustomerFactory(name="陈静", gender="female", primary_store=store, primary_associate=associate)
    IdentityFactory(customer=customer, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=EXTERNAL_USERID)
    made = timeline_world_make(store=store, associate=associate, customer=customer)
    long_ago = timezone.now() - timedelta(days=60)
    CustomerNote.objects.bulk_create(
        [CustomerNote(customer=customer, author=associate, text=f"早先的备注 {n}") for n in range(OLDER_NOTES)]
    )
    CustomerNote.objects.filter(text__startswith="早先的备注").update(created_at=long_ago)
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    emulator.control("POST", "customers", {"name": "陈静", "gender": 2, "external_userid": EXTERNAL_USERID})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL_USERID, "userid": "linyu"})

    page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    timeline_reads = []
    page.on("request", lambda request: "/timeline/" in request.url and timeline_reads.append(request.url))
    page.goto(emulator.url + "/")
    page.select_option("#associate-select", "linyu")
    page.click(f'#customer-list li[data-external-userid="{EXTERNAL_USERID}"]')
    sidebar = page.frame_locator("#sidebar-frame")
    sidebar.locator("#orders .order").first.wait_for(timeout=20000)
    # The phone's size: the sidebar frame at 390 × 844, the timeline still below the fold.
    page.locator("#sidebar-frame").evaluate(
        "f => f.setAttribute('style', 'position:fixed;left:0;top:0;width:390px;height:844px;z-index:9999')"
    )
    page.wait_for_timeout(500)
    assert timeline_reads == []
    assert sidebar.locator("#timeline .tl-item").count() == 0

    sidebar.locator("#timeline-card").scroll_into_view_if_needed()
    sidebar.locator("#timeline .tl-item").nth(len(made.kinds) - 1).wait_for(timeout=10000)
    sidebar.locator("#timeline-card").evaluate("card => card.scrollIntoView({block: 'start'})")
    page.locator("#sidebar-frame").screenshot(path=str(DOCS / "day_timeline.png"))

    items = sidebar.locator("#timeline .tl-item")
    assert [items.nth(i).get_attribute("data-kind") for i in range(len(made.kinds))] == made.kinds
    assert set(made.kinds) == set(KIND_LABELS)
    text = sidebar.locator("#timeline").inner_text()
    for words in ("购买 · 上海静安店", "¥1,699", "-¥299", "优惠 ¥50", "静安店会员 1 群", "冬季新品上市", "真丝控"):
        assert words in text
    assert len(timeline_reads) == 1

    # 18 events and 8 older notes: 20 on the first page, the other 6 on the next.
    more = sidebar.locator("#timeline-more")
    assert more.is_visible()
    more.click()
    sidebar.locator("#timeline .tl-item").nth(len(made.kinds) + OLDER_NOTES - 1).wait_for(timeout=10000)
    assert items.count() == len(made.kinds) + OLDER_NOTES
    assert more.is_hidden()
    assert len(timeline_reads) == 2 and "after=" in timeline_reads[1]
