"""The task page's actions (/api/v1/sidebar/tasks/<id>/…): done, snooze, reassign within the store, who may act (the
task's associate, her store's manager; never another store), and tasks closing themselves when the associate sends
what they ask for from the sidebar (a product here; the coupon pack in tests/test_notices_ui.py)."""

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from associates.auth import SESSION_KEY
from associates.models import Associate
from clientbook.followups import follow_up_tasks_close_by_send
from clientbook.models import FollowUpTask
from tests.factories import AssociateFactory, CustomerFactory, ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db


def _sign_in(client, associate):
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return client


@pytest.fixture
def world():
    store, other_store = StoreFactory(name="上海静安店"), StoreFactory(name="北京三里屯店")
    linyu = AssociateFactory(store=store, name="林雨")
    wangfang = AssociateFactory(store=store, name="王芳")
    manager = AssociateFactory(store=store, name="张店长", role=Associate.Role.STORE_MANAGER)
    stranger = AssociateFactory(store=other_store, name="北京导购")
    customer = CustomerFactory(name="陈静", primary_store=store, primary_associate=linyu)
    task = FollowUpTask.objects.create(
        associate=linyu, customer=customer, title="推荐新款", due_on=timezone.localdate(), action="send_product"
    )
    return {
        "linyu": linyu,
        "wangfang": wangfang,
        "manager": manager,
        "stranger": stranger,
        "customer": customer,
        "task": task,
    }


def _post(client, task, action, body=None):
    return client.post(f"/api/v1/sidebar/tasks/{task.pk}/{action}/", body or {}, content_type="application/json")


def test_the_associate_snoozes_her_task_to_a_date(client, world):
    until = timezone.localdate() + timedelta(days=3)
    response = _post(_sign_in(client, world["linyu"]), world["task"], "snooze", {"until": until.isoformat()})

    assert response.status_code == 200
    assert response.json()["due_on"] == until.isoformat()
    world["task"].refresh_from_db()
    assert world["task"].due_on == until and world["task"].done_at is None


@pytest.mark.parametrize("days", [0, -1, 91])
def test_a_snooze_outside_tomorrow_to_90_days_is_refused_and_changes_nothing(client, world, days):
    until = timezone.localdate() + timedelta(days=days)
    response = _post(_sign_in(client, world["linyu"]), world["task"], "snooze", {"until": until.isoformat()})

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_snooze_date")
    world["task"].refresh_from_db()
    assert world["task"].due_on == timezone.localdate()


def test_a_task_is_reassigned_only_within_its_store(client, world):
    _sign_in(client, world["linyu"])
    refused = _post(client, world["task"], "reassign", {"associate_id": world["stranger"].pk})
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_assignee")
    world["task"].refresh_from_db()
    assert world["task"].associate_id == world["linyu"].pk

    moved = _post(client, world["task"], "reassign", {"associate_id": world["wangfang"].pk})
    assert (moved.status_code, moved.json()["associate"]) == (200, "王芳")
    # Handed over, it is no longer hers to act on.
    assert _post(client, world["task"], "done").status_code == 404


def test_the_store_manager_may_act_on_her_associates_tasks(client, world):
    response = _post(_sign_in(client, world["manager"]), world["task"], "done")

    assert response.status_code == 200
    world["task"].refresh_from_db()
    assert world["task"].done_at is not None
    assert (world["task"].closed_by_id, world["task"].closed_note) == (world["manager"].pk, "手动标记完成")


@pytest.mark.parametrize("who", ["stranger", "wangfang"])
def test_another_stores_or_a_colleagues_task_is_404_and_unchanged(client, world, who):
    _sign_in(client, world[who])
    until = (timezone.localdate() + timedelta(days=3)).isoformat()
    answers = [
        client.get(f"/api/v1/sidebar/tasks/{world['task'].pk}/"),
        _post(client, world["task"], "done"),
        _post(client, world["task"], "snooze", {"until": until}),
        _post(client, world["task"], "reassign", {"associate_id": world[who].pk}),
    ]

    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(404, "task_not_found")] * 4
    world["task"].refresh_from_db()
    assert (world["task"].associate_id, world["task"].done_at, world["task"].due_on) == (
        world["linyu"].pk,
        None,
        timezone.localdate(),
    )
    assert client.get(f"/workbench/tasks/{world['task'].pk}/").status_code == 404


def test_sending_the_product_from_the_sidebar_closes_the_matching_task_only(client, world):
    ProductFactory(sku="DR1", name="亚麻连衣裙")
    coupon_task = FollowUpTask.objects.create(
        associate=world["linyu"],
        customer=world["customer"],
        title="送券",
        due_on=timezone.localdate(),
        action="send_coupon",
    )
    _sign_in(client, world["linyu"])

    response = client.post(
        f"/api/v1/sidebar/customers/{world['customer'].pk}/outreach/",
        {"sku": "DR1", "source": "manual", "request_id": str(uuid.uuid4())},
        content_type="application/json",
    )

    assert response.status_code == 201
    world["task"].refresh_from_db()
    coupon_task.refresh_from_db()
    assert world["task"].done_at is not None
    assert (world["task"].closed_by_id, world["task"].closed_note) == (world["linyu"].pk, "从侧边栏发送商品 DR1")
    assert coupon_task.done_at is None


def test_a_send_by_someone_else_closes_nothing(world):
    closed = follow_up_tasks_close_by_send(
        associate=world["wangfang"], customer_id=world["customer"].pk, action="send_product", note="x"
    )
    assert closed == []
    world["task"].refresh_from_db()
    assert world["task"].done_at is None


def test_the_task_page_shows_the_actions_and_the_colleagues_of_the_store(client, world):
    page = _sign_in(client, world["linyu"]).get(f"/workbench/tasks/{world['task'].pk}/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "推荐新款" in text and "打开聊天" in text and "标记完成" in text
    assert "王芳" in text and "北京导购" not in text


def test_the_associate_sets_her_own_quiet_hours_and_cap_and_bad_ones_change_nothing(client, world):
    _sign_in(client, world["linyu"])
    url = "/api/v1/sidebar/notices/preference/"
    assert client.get(url).json() == {"quiet_start": "22:00", "quiet_end": "08:00", "daily_cap": 20}

    bad = client.put(
        url, {"quiet_start": "21:00", "quiet_end": "07:00", "daily_cap": 0}, content_type="application/json"
    )
    good = client.put(
        url, {"quiet_start": "21:00", "quiet_end": "07:30", "daily_cap": 8}, content_type="application/json"
    )

    assert bad.status_code == 400
    assert good.json() == {"quiet_start": "21:00", "quiet_end": "07:30", "daily_cap": 8}
    assert client.get(url).json()["daily_cap"] == 8
    other = _sign_in(Client(), world["wangfang"]).get(url).json()
    assert other["daily_cap"] == 20
