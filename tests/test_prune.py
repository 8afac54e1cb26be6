"""Retention (`manage.py prune`, omni.retention): each kind loses only the rows past its period, in batches, reported
per kind; --dry-run counts and changes nothing; the audit log is kept within its period; a campaign's figures are the
same after its recipients are deleted."""

import datetime as dt
import io

import pytest
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from campaigns.models import Campaign, CampaignChunk, CampaignRecipient
from campaigns.selectors import campaign_progress
from customers.models import AuditLog
from omni.celery import app
from omni.tasks import prune_task
from tests.factories import AssociateFactory, CustomerFactory, UserFactory
from wecom.models import CallbackEvent, SyncRun

pytestmark = pytest.mark.django_db

DAYS = {"callback_events": 30, "sync_runs": 90, "campaign_recipients": 400, "audit_log": 1096}
RS = CampaignRecipient.Status


def _ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def _event(n: int, *, status=CallbackEvent.Status.DONE, processed_days_ago: float | None) -> CallbackEvent:
    event = CallbackEvent.objects.create(
        dedupe_key=f"{n:064d}", event="change_external_contact", payload={}, status=status
    )
    processed_at = None if processed_days_ago is None else _ago(processed_days_ago)
    CallbackEvent.objects.filter(pk=event.pk).update(processed_at=processed_at, received_at=processed_at or _ago(0))
    return event


def _sync_run(*, status, days_ago: float) -> SyncRun:
    run = SyncRun.objects.create(kind=SyncRun.Kind.CONTACTS, status=status)
    finished = _ago(days_ago) if status == SyncRun.Status.DONE else None
    SyncRun.objects.filter(pk=run.pk).update(updated_at=_ago(days_ago), finished_at=finished)
    return run


def _audit(days_ago: float) -> AuditLog:
    entry = AuditLog.objects.create(action=AuditLog.Action.PROFILE_VIEW)
    AuditLog.objects.filter(pk=entry.pk).update(at=_ago(days_ago))
    return entry


def _campaign(*, ended_days_ago: float, status=Campaign.Status.DONE) -> Campaign:
    """A campaign of 7 recipients: 3 sent, 1 not a friend, 1 unconfirmed, 2 skipped (opted out, frequency cap)."""
    associate = AssociateFactory()
    ended = _ago(ended_days_ago)
    campaign = Campaign.objects.create(
        name=f"活动{ended_days_ago}", text="到店有礼", send_at=ended, created_by=UserFactory(), resolved_at=ended
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        status=status,
        finished_at=ended if status == Campaign.Status.DONE else None,
        cancelled_at=ended if status == Campaign.Status.CANCELLED else None,
    )
    chunk = CampaignChunk.objects.create(campaign=campaign, associate=associate, index=0, size=5)
    rows = [(RS.SENT, "")] * 3 + [(RS.NOT_FRIEND, ""), (RS.UNCONFIRMED, "")]
    rows += [(RS.SKIPPED, CampaignRecipient.Skip.OPTED_OUT), (RS.SKIPPED, CampaignRecipient.Skip.FREQUENCY_CAP)]
    for status, reason in rows:
        CampaignRecipient.objects.create(
            campaign=campaign,
            customer=CustomerFactory(),
            associate=associate,
            chunk=None if status == RS.SKIPPED else chunk,
            status=status,
            skip_reason=reason,
            sent_at=ended if status == RS.SENT else None,
            created_at=ended,
        )
    return campaign


@pytest.fixture
def world():
    """Of each kind, rows just past their period and rows just within it."""
    with override_settings(OMNI_RETENTION_DAYS=DAYS):
        session_store = Session.objects
        yield {
            "events_old": [_event(n, processed_days_ago=31) for n in range(5)],
            "event_recent": _event(10, processed_days_ago=29),
            "event_failed_old": _event(11, status=CallbackEvent.Status.FAILED, processed_days_ago=None),
            "event_pending": _event(12, status=CallbackEvent.Status.PENDING, processed_days_ago=None),
            "runs_old": [_sync_run(status=s, days_ago=91) for s in (SyncRun.Status.DONE, SyncRun.Status.FAILED)],
            "run_recent": _sync_run(status=SyncRun.Status.DONE, days_ago=89),
            "run_running": _sync_run(status=SyncRun.Status.RUNNING, days_ago=200),
            "session_expired": session_store.create(session_key="a" * 32, session_data="", expire_date=_ago(1)),
            "session_live": session_store.create(session_key="b" * 32, session_data="", expire_date=_ago(-1)),
            "audit_old": _audit(1097),
            "audit_kept": _audit(1095),
            "campaign_old": _campaign(ended_days_ago=401),
            "campaign_cancelled_old": _campaign(ended_days_ago=500, status=Campaign.Status.CANCELLED),
            "campaign_recent": _campaign(ended_days_ago=399),
        }


def _counts() -> dict[str, int]:
    return {
        "callback_events": CallbackEvent.objects.count(),
        "sync_runs": SyncRun.objects.count(),
        "sessions": Session.objects.count(),
        "audit_log": AuditLog.objects.count(),
        "campaign_recipients": CampaignRecipient.objects.count(),
        "campaigns": Campaign.objects.count(),
        "chunks": CampaignChunk.objects.count(),
    }


def _prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_reports_each_kind_and_changes_nothing(world):
    before = _counts()
    summaries = list(Campaign.objects.order_by("pk").values_list("recipients_summary", flat=True))

    out = _prune("--dry-run")

    assert _counts() == before
    assert list(Campaign.objects.order_by("pk").values_list("recipients_summary", flat=True)) == summaries
    assert "callback_events: would delete 5 —" in out
    assert "sync_runs: would delete 2 —" in out
    assert "sessions: would delete 1 —" in out
    assert "audit_log: would delete 1 —" in out
    assert "campaign_recipients: would delete 14 —" in out
    assert "Dry run: nothing changed; would delete 23 rows in all." in out


def test_prune_deletes_only_what_is_past_its_period_in_batches(world):
    out = _prune("--batch-size", "2")

    assert set(CallbackEvent.objects.values_list("pk", flat=True)) == {
        world["event_recent"].pk,
        world["event_failed_old"].pk,
        world["event_pending"].pk,
    }
    assert set(SyncRun.objects.values_list("pk", flat=True)) == {world["run_recent"].pk, world["run_running"].pk}
    assert list(Session.objects.values_list("session_key", flat=True)) == ["b" * 32]
    assert list(AuditLog.objects.values_list("pk", flat=True)) == [world["audit_kept"].pk]
    assert set(CampaignRecipient.objects.values_list("campaign_id", flat=True)) == {world["campaign_recent"].pk}
    assert Campaign.objects.count() == 3 and CampaignChunk.objects.count() == 3
    assert "callback_events: deleted 5 —" in out
    assert "campaign_recipients: deleted 14 —" in out
    assert "deleted 23 rows in all." in out


def test_a_second_run_finds_nothing(world):
    _prune()

    out = _prune()

    assert "deleted 0 rows in all." in out


def test_a_campaigns_figures_are_the_same_after_its_recipients_are_deleted(world):
    pruned, kept = world["campaign_old"], world["campaign_recent"]
    before = campaign_progress(campaign_id=pruned.pk), campaign_progress(campaign_id=kept.pk)

    _prune()

    assert not CampaignRecipient.objects.filter(campaign=pruned).exists()
    assert (campaign_progress(campaign_id=pruned.pk), campaign_progress(campaign_id=kept.pk)) == before
    assert before[0].by_status == {"sent": 3, "not_friend": 1, "unconfirmed": 1, "skipped": 2}
    assert before[0].skipped_by_reason == {"opted_out": 1, "frequency_cap": 1}
    assert Campaign.objects.get(pk=kept.pk).recipients_summary is None


def test_the_audit_log_is_kept_three_years_by_default(settings):
    assert settings.OMNI_AUDIT_RETENTION_DAYS == settings.OMNI_RETENTION_DAYS["audit_log"] == 1096


def test_a_kind_without_a_period_is_kept_and_said_so(world):
    with override_settings(OMNI_RETENTION_DAYS={**DAYS, "audit_log": None}):
        out = _prune()

    assert AuditLog.objects.count() == 2
    assert "audit_log: kept for ever (no period set)" in out


def test_recipients_may_not_go_before_the_longest_attribution_window(world):
    too_short = override_settings(OMNI_RETENTION_DAYS={**DAYS, "campaign_recipients": 365})
    with too_short, pytest.raises(ImproperlyConfigured, match="at least 366"):
        _prune("--dry-run")


def test_insights_recompute_refuses_a_period_that_would_read_deleted_recipients(world):
    _prune()
    ended = timezone.localdate() - dt.timedelta(days=401)

    with pytest.raises(CommandError, match="活动401"):
        call_command("insights_recompute", "--start", f"{ended}", "--end", f"{ended + dt.timedelta(days=1)}")


def test_the_daily_beat_task_prunes():
    assert app.conf.beat_schedule["retention-prune-daily"]["task"] == "omni.tasks.prune_task"
    with override_settings(OMNI_RETENTION_DAYS=DAYS):
        _audit(2000)

        deleted = prune_task.delay().get()

    assert deleted["audit_log"] == 1
    assert AuditLog.objects.count() == 0
