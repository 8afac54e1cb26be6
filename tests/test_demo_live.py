"""The demo is live on whatever day it is seeded: its history ends where that day begins, so the dashboard's default
window (the last 30 days), the workbench's tasks and coupons about to expire have figures on first open, and no
order lies in the future. Seeded through `manage.py seed_demo`, as a person runs it, with the day frozen."""

from datetime import date, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Max
from django.utils import timezone

from clientbook.models import FollowUpTask
from coupons.models import Coupon
from customers.models import Order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.parametrize("today", [date(2026, 12, 7), date(2027, 12, 7)])
def test_the_dashboard_default_window_shows_sales_customers_and_coupons_on_the_day_the_demo_is_seeded(
    today, time_machine, client
):
    # given the demo seeded on `today`, a year apart between the cases
    time_machine.move_to(datetime.combine(today, time(10, 0), tzinfo=SHANGHAI), tick=False)
    call_command("seed_demo", customers=300, stdout=StringIO())

    # when HQ opens the dashboard without choosing a window
    client.force_login(get_user_model().objects.get(username="hq"))
    response = client.get("/admin/insights/dailystats/")

    # then the default window is the last 30 days, and it has sales, new customers and coupons sent
    assert response.status_code == 200
    dashboard, totals = response.context["dashboard"], response.context["totals"]
    assert (dashboard.start, dashboard.end) == (today - timedelta(days=29), today)
    assert totals["gmv"] > 0
    assert totals["orders"] > 0
    assert totals["customers_added"] > 0
    assert totals["customers_touched"] > 0
    assert totals["coupons_sent"] > 0
    assert dashboard.stores
    assert dashboard.associates
    html = response.content.decode()
    assert f'<div class="label">新增客户</div><div class="value">{totals["customers_added"]}</div>' in html
    assert f'<div class="label">发券 → 核销</div><div class="value">{totals["coupons_sent"]} <small>' in html
    assert "这段时间还没有数据" not in html

    # and the history ends yesterday, with nothing in the future
    last_order = Order.objects.aggregate(last=Max("placed_at"))["last"]
    assert timezone.localdate(last_order, timezone=SHANGHAI) == today - timedelta(days=1)
    assert not Order.objects.filter(placed_at__gt=timezone.now()).exists()
    assert not Coupon.objects.filter(issued_at__gt=timezone.now()).exists()

    # and the workbench has today's journeys and coupon-expiry reminders
    assert FollowUpTask.objects.filter(due_on=today, occasion__startswith="post_purchase:").exists()
    assert FollowUpTask.objects.filter(occasion__startswith="coupons-expiring:").exists()
    assert Coupon.objects.filter(status=Coupon.Status.ISSUED, valid_until__gt=timezone.now()).exists()
