"""Admin → 企业微信回调事件 and 企业微信同步: an operator reads what WeCom sent and what Omni fetched, processes failed
events again and resumes failed syncs; each action touches only failed rows and queues work after commit."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from wecom.models import CallbackEvent, SyncRun
from wecom.tasks import callback_event_process_task, wecom_sync_task

pytestmark = pytest.mark.django_db


def _event(n: int, status: str, error: str = "") -> CallbackEvent:
    return CallbackEvent.objects.create(
        dedupe_key=f"{n:064d}",
        event="change_external_contact",
        change_type="add_external_contact",
        payload={"n": n},
        status=status,
        error=error,
        attempts=1,
    )


@pytest.fixture
def operator(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_operator_finds_failed_events_by_status(operator):
    _event(1, "failed", "WeCom error 84061")
    _event(2, "done")

    page = operator.get(reverse("admin:wecom_callbackevent_changelist"), {"status__exact": "failed"})

    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert operator.get(reverse("admin:wecom_syncrun_changelist")).status_code == 200


def test_processing_again_requeues_only_failed_events_after_commit(
    operator, monkeypatch, django_capture_on_commit_callbacks
):
    failed, done, pending = _event(1, "failed", "WeCom error 84061"), _event(2, "done"), _event(3, "pending")
    queued = []
    monkeypatch.setattr(callback_event_process_task, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        answer = operator.post(
            reverse("admin:wecom_callbackevent_changelist"),
            {"action": "process_again", "_selected_action": [failed.pk, done.pk, pending.pk]},
            follow=True,
        )

    assert answer.status_code == 200
    assert "已重新排队处理 1 个失败事件" in answer.content.decode()
    assert queued == [failed.pk]
    assert dict(CallbackEvent.objects.values_list("pk", "status")) == {
        failed.pk: "pending",
        done.pk: "done",
        pending.pk: "pending",
    }
    assert CallbackEvent.objects.get(pk=failed.pk).error == ""
    assert CallbackEvent.objects.get(pk=failed.pk).attempts == 1


def test_resuming_a_failed_sync_keeps_its_cursor_unless_one_of_its_kind_is_running(
    operator, monkeypatch, django_capture_on_commit_callbacks
):
    contacts = SyncRun.objects.create(kind="contacts", status="failed", error="60020", state={"cursor": "c-7"}, pages=7)
    tags = SyncRun.objects.create(kind="tags", status="failed", error="60020")
    SyncRun.objects.create(kind="tags", status="running")
    queued = []
    monkeypatch.setattr(wecom_sync_task, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        operator.post(
            reverse("admin:wecom_syncrun_changelist"),
            {"action": "resume", "_selected_action": [contacts.pk, tags.pk]},
        )

    assert queued == [contacts.pk]
    contacts.refresh_from_db()
    assert (contacts.status, contacts.error, contacts.state, contacts.pages) == ("running", "", {"cursor": "c-7"}, 7)
    assert SyncRun.objects.get(pk=tags.pk).status == "failed"
