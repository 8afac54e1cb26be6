"""我的业绩 and the manager's phone in the WeCom app: an associate's month (the dashboard's own figures, target
progress, rank), the store manager's table of every associate and the overdue tasks; nobody else's month but to
the manager of their store, and no other store's targets or figures on any page."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from associates.auth import SESSION_KEY
from associates.models import Associate
from clientbook.models import FollowUpTask
from insights.models import DailyStats, SalesTarget
from insights.selectors import dashboard_get, store_month_get
from tests.factories import AssociateFactory, CustomerFactory, StoreFactory


@pytest.fixture
def world(db):
    today = timezone.localdate()
    month = today.replace(day=1)
    a, b = StoreFactory(code="SH01", name="上海静安店"), StoreFactory(code="BJ01", name="北京三里屯店")
    lin = AssociateFactory(store=a, wecom_userid="linyu", name="林雨")
    wang = AssociateFactory(store=a, wecom_userid="wangfang", name="王芳")
    boss = AssociateFactory(store=a, wecom_userid="zhoujie", name="周杰", role=Associate.Role.STORE_MANAGER)
    zhao = AssociateFactory(store=b, wecom_userid="zhaolei", name="赵磊")
    boss_b = AssociateFactory(store=b, wecom_userid="sunli", name="孙丽", role=Associate.Role.STORE_MANAGER)
    # this month: 林雨 3,000 + 2000 today; 王芳 9000 (first); B's figures are marked
    DailyStats.objects.create(day=month, store=a, associate=lin, gmv=Decimal("3000"), customers_added=4)
    DailyStats.objects.create(
        day=today, store=a, associate=lin, gmv=Decimal("2000"), coupons_sent=5, coupons_redeemed=2
    )
    DailyStats.objects.create(day=today, store=a, associate=wang, gmv=Decimal("9000"))
    DailyStats.objects.create(day=today, store=b, associate=zhao, gmv=Decimal("64646"))
    # last month does not count
    DailyStats.objects.create(day=month - dt.timedelta(days=1), store=a, associate=lin, gmv=Decimal("100000"))
    SalesTarget.objects.create(month=month, store=a, associate=lin, amount=Decimal("10000"), new_customers=8)
    SalesTarget.objects.create(month=month, store=a, amount=Decimal("40000"))
    SalesTarget.objects.create(month=month, store=b, associate=zhao, amount=Decimal("73737"))
    customer = CustomerFactory(name="陈静", primary_store=a)
    FollowUpTask.objects.create(associate=lin, customer=customer, title="回访", due_on=today, done_at=timezone.now())
    FollowUpTask.objects.create(
        associate=wang, customer=customer, title="生日提醒逾期", due_on=today - dt.timedelta(days=3)
    )
    FollowUpTask.objects.create(
        associate=zhao, customer=CustomerFactory(primary_store=b), title="北京逾期", due_on=today - dt.timedelta(days=3)
    )
    return {"a": a, "b": b, "lin": lin, "wang": wang, "boss": boss, "zhao": zhao, "boss_b": boss_b, "today": today}


def _as(client, associate):
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


def test_the_month_uses_the_dashboards_figures(world):
    month = store_month_get(store=world["a"], today=world["today"])
    dashboard = dashboard_get(
        store_ids=frozenset({world["a"].pk}),
        start=world["today"].replace(day=1),
        end=world["today"],
        store_id=world["a"].pk,
    )

    lin = month.row_of(world["lin"].pk)
    assert [row.associate.name for row in month.rows] == ["王芳", "林雨", "周杰"]
    assert (lin.rank, lin.month_gmv, lin.today_gmv) == (2, Decimal("5000"), Decimal("2000"))
    assert (lin.customers_added, lin.coupons_sent, lin.coupons_redeemed, lin.tasks_done) == (4, 5, 2, 1)
    assert (lin.target, lin.new_customers_target, lin.progress) == (Decimal("10000"), 8, 50.0)
    assert month.month_gmv == dashboard.totals["gmv"] == Decimal("14000")
    assert {row["associate_id"]: row["gmv"] for row in dashboard.associates} == {
        r.associate.pk: r.month_gmv for r in month.rows if r.month_gmv
    }
    assert (month.target, month.progress) == (Decimal("40000"), 35.0)
    assert [task.title for task in month.overdue_tasks] == ["生日提醒逾期"]


def test_my_month_shows_my_figures_target_progress_and_rank(client, world):
    html = _as(client, world["lin"]).get("/workbench/month/").content.decode()

    assert "我的业绩" in html
    assert 'id="month-gmv">5000<' in html
    assert 'id="today-gmv">2000<' in html
    assert "完成 <b>50.0%</b>" in html and "目标 10000 元" in html
    assert "2<span" in html  # rank 2 of 3
    assert "王芳" not in html and "9000" not in html
    assert "64646" not in html and "73737" not in html


def test_an_associate_cannot_open_another_associates_month_nor_the_store_page(client, world):
    _as(client, world["lin"])

    assert client.get(f"/workbench/month/{world['wang'].pk}/").status_code == 404
    assert client.get(f"/workbench/month/{world['zhao'].pk}/").status_code == 404
    assert client.get("/workbench/store/").status_code == 404
    assert client.get(f"/workbench/month/{world['lin'].pk}/").status_code == 200
    assert "门店业绩" not in client.get("/workbench/").content.decode()


def test_the_manager_sees_the_store_each_associate_by_sales_and_the_overdue_tasks(client, world):
    _as(client, world["boss"])

    html = client.get("/workbench/store/").content.decode()
    lin_month = client.get(f"/workbench/month/{world['lin'].pk}/")

    assert html.index("王芳") < html.index("林雨") < html.index("周杰")
    assert 'id="store-month">14000<' in html and "完成 <b>35.0%</b>" in html
    assert "5000 / 10000" in html and "未设目标" in html
    assert "生日提醒逾期" in html and "北京逾期" not in html
    assert "赵磊" not in html and "64646" not in html and "73737" not in html
    assert lin_month.status_code == 200 and "林雨的业绩" in lin_month.content.decode()
    assert "门店业绩" in client.get("/workbench/").content.decode()


def test_a_manager_cannot_open_another_stores_associate(client, world):
    _as(client, world["boss_b"])

    assert client.get(f"/workbench/month/{world['lin'].pk}/").status_code == 404
    html = client.get("/workbench/store/").content.decode()
    assert "赵磊" in html and "林雨" not in html and "14000" not in html


def test_without_a_wecom_session_the_pages_go_to_wecom_sign_in(client, world):
    for path in ("/workbench/month/", "/workbench/store/", f"/workbench/month/{world['lin'].pk}/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/wecom/oauth/start/")
