"""The performance dashboard in a real browser (Debian's Chromium through Playwright): a store manager logs in to
admin and sees a month of figures, charts drawn as inline SVG (no CDN), in Chinese; the screenshot goes to
artifacts/insights_dashboard.png."""

import datetime as dt
import random
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.utils import timezone

from clientbook.models import FollowRelation
from coupons.models import Coupon, IssueRequest, Redemption
from coupons.redemption import OrderIn
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from customers.models import Channel
from insights.attribution import attribution_recompute
from insights.stats import daily_stats_refresh
from suggestions.models import Outreach
from tests.factories import (
    AssociateFactory,
    CouponPackItemFactory,
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
)

ARTIFACTS = Path(django_settings.BASE_DIR) / "artifacts"
DAYS = 30

pytestmark = pytest.mark.browser


def _month_of_work() -> tuple:
    """Two stores a manager runs (and one they do not), five associates, thirty days of chats, coupons and orders."""
    rng = random.Random(9)
    jingan = StoreFactory(code="SH01", name="上海静安嘉里店")
    xuhui = StoreFactory(code="SH02", name="上海徐汇港汇店")
    StoreFactory(code="BJ01", name="北京三里屯店")
    people = [
        AssociateFactory(store=jingan, name="林雨"),
        AssociateFactory(store=jingan, name="陈思琪"),
        AssociateFactory(store=jingan, name="赵敏", is_active=False),
        AssociateFactory(store=xuhui, name="王芳"),
        AssociateFactory(store=xuhui, name="周洁"),
    ]
    skill = [1.0, 0.7, 0.3, 0.85, 0.5]
    products = [ProductFactory(price=Decimal(p)) for p in ("299.00", "459.00", "899.00", "1290.00")]
    pack = CouponPackItemFactory(
        template__per_customer_limit=100, template__total_stock=100000, pack__daily_quota=1000
    ).pack
    today = timezone.localdate()
    tz = timezone.get_current_timezone()
    n = 0
    book: list[list] = [[] for _ in people]
    for back in range(DAYS - 1, -1, -1):
        day = today - dt.timedelta(days=back)
        for who, associate in enumerate(people):
            if not associate.is_active and back < 10:
                continue
            # Follow-ups with customers added earlier: touched, not new.
            for customer in rng.sample(book[who], min(len(book[who]), rng.randint(0, 6))):
                Outreach.objects.create(
                    request_id=uuid.uuid4(),
                    associate=associate,
                    store=associate.store,
                    customer=customer,
                    product=rng.choice(products),
                    source=Outreach.Source.ADDON,
                    sent_at=dt.datetime.combine(day, dt.time(15, rng.randint(0, 59)), tzinfo=tz),
                )
            for _ in range(rng.randint(1, 3 + int(4 * skill[who]))):
                n += 1
                at = dt.datetime.combine(day, dt.time(10 + rng.randint(0, 9), rng.randint(0, 59)), tzinfo=tz)
                customer = CustomerFactory(primary_store=associate.store, primary_associate=associate)
                book[who].append(customer)
                FollowRelation.objects.create(
                    associate=associate,
                    customer=customer,
                    external_userid=f"wm{n:06d}",
                    add_way=1,
                    followed_at=at,
                    welcome=FollowRelation.Welcome.SENT,
                )
                product = rng.choice(products)
                Outreach.objects.create(
                    request_id=uuid.uuid4(),
                    associate=associate,
                    store=associate.store,
                    customer=customer,
                    product=product,
                    source=Outreach.Source.SUGGESTION,
                    sent_at=at + dt.timedelta(minutes=5),
                )
                sent = None
                if rng.random() < 0.6:
                    sent = coupon_pack_send(
                        pack_id=pack.pk, customer_id=customer.pk, request_no=f"ui-{n}", associate=associate
                    )
                    IssueRequest.objects.filter(pk=sent.request.pk).update(created_at=at + dt.timedelta(minutes=6))
                    Coupon.objects.filter(issue_request=sent.request).update(issued_at=at + dt.timedelta(minutes=6))
                if rng.random() < 0.25 + 0.5 * skill[who]:
                    placed = at + dt.timedelta(hours=rng.randint(1, 30))
                    if placed.date() > today:
                        continue
                    channel = rng.choice([Channel.MINI_PROGRAM, Channel.ONLINE_MALL, Channel.STORE_POS])
                    order = OrderFactory(
                        channel=channel,
                        store=associate.store if channel == Channel.STORE_POS else None,
                        customer=customer,
                        placed_at=placed,
                        total_amount=product.price,
                    )
                    OrderLineFactory(order=order, product=product, unit_price=product.price)
                    if sent is not None and product.price >= 300 and rng.random() < 0.7:
                        coupon_redeem(
                            code=sent.coupons[0].code,
                            order=OrderIn(
                                channel="store" if channel == Channel.STORE_POS else "online",
                                store=associate.store if channel == Channel.STORE_POS else None,
                                order_ref=order.external_id,
                                amount=product.price,
                            ),
                            request_no=f"ui-r{n}",
                        )
                        Redemption.objects.filter(request_no=f"ui-r{n}").update(created_at=placed)
    start = dt.datetime.combine(today - dt.timedelta(days=DAYS), dt.time.min, tzinfo=tz)
    attribution_recompute(start=start, end=start + dt.timedelta(days=DAYS + 2))
    daily_stats_refresh(start=today - dt.timedelta(days=DAYS - 1), end=today)
    return jingan, xuhui


@pytest.mark.django_db(transaction=True)
def test_a_manager_sees_the_dashboard_with_charts_in_a_real_browser(live_server, browser):
    jingan, xuhui = _month_of_work()
    manager = UserFactory(username="manager", password="pass-1234")
    jingan.managers.add(manager)
    xuhui.managers.add(manager)
    manager.user_permissions.add(*Permission.objects.filter(content_type__app_label="insights"))

    page = browser.new_page(viewport={"width": 1360, "height": 900})
    external = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(live_server.url) else None)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/insights/dailystats/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")
    page.wait_for_selector("svg.chart")

    assert page.title().startswith("业绩看板")
    assert page.locator("svg.chart").count() == 2 and page.locator("svg.funnel").count() == 3
    board = page.locator(".insights table").first.inner_text()
    assert "林雨" in board and "王芳" in board and "已离职" in board
    assert "北京三里屯店" not in page.content()
    # The GMV trend is a line with a point per day of the range.
    points = page.locator("svg.chart polyline").first.get_attribute("points").split()
    assert len(points) == DAYS
    assert external == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "insights_dashboard.png"), full_page=True)
