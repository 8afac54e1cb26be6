"""The Celery application: real-time and bulk queues, schedules declared in code."""

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging
from django_structlog.celery.steps import DjangoStructLogInitStep
from kombu import Exchange, Queue

# Task counts and durations by task name (Celery's signals), in every process that runs tasks.
import omni.metrics  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")

app = Celery("omni")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each queue on its own exchange and key: a queue declared bare inherits the default exchange and key
# ("bulk"), and then one message would reach both queues.
app.conf.task_queues = (
    Queue("realtime", Exchange("realtime", type="direct"), routing_key="realtime"),
    Queue("bulk", Exchange("bulk", type="direct"), routing_key="bulk"),
)

REALTIME, BULK = "realtime", "bulk"
# Every task: its queue, its soft time limit (SoftTimeLimitExceeded is raised in the task) and its hard one (the
# worker process is killed), in seconds. Real-time work is what a customer or WeCom waits for, short and few; it has
# its own worker (`./run serve worker realtime`), so a campaign's backlog on bulk never delays it. tests/test_serve
# checks that every registered task is here. The broker's visibility timeout (omni.settings) outlasts the longest
# hard limit.
TASKS = {
    # WeCom's callbacks, stored on receipt, then processed: a few WeCom calls (each up to WECOM_TIMEOUT, retried).
    "wecom.tasks.callback_event_process_task": (REALTIME, 120, 150),
    # Queues callbacks left pending (those whose queueing failed at once); every minute, expiring after 50 s.
    "wecom.tasks.callback_events_requeue_task": (REALTIME, 50, 60),
    # WeCom takes the welcome message only within 20 s of the add event: past that a send is pointless.
    "clientbook.tasks.welcome_message_send_task": (REALTIME, 25, 35),
    # A group chat's callback looked at again (one re-fetch).
    "communities.tasks.group_chat_recheck_task": (REALTIME, 120, 150),
    # Notices to associates (WeCom app messages): one delivery (one WeCom call), and the minute's sweep of those due.
    "notices.tasks.notice_deliver_task": (REALTIME, 30, 40),
    "notices.tasks.notices_due_send_task": (REALTIME, 50, 60),
    # The associates' morning digest of today's tasks (one notice each).
    "clientbook.tasks.notices_digest_task": (BULK, 1200, 1300),
    "clientbook.tasks.notices_tasks_due_task": (BULK, 1200, 1300),
    # Bulk: one page of a WeCom sync (the nightly sync only queues the first pages), or a fanned-out sync's watch
    # (its window of parts queued); one member's part of a contacts sync, up to PART_WRITES_PER_TASK writes (each a
    # few WeCom calls and one set-based write; the hard limit is below wecom.sync.PART_STALE_SECONDS).
    "wecom.tasks.wecom_sync_task": (BULK, 300, 360),
    "wecom.tasks.wecom_sync_part_task": (BULK, 300, 360),
    "wecom.tasks.wecom_sync_all_task": (BULK, 300, 360),
    # A campaign's audience resolved and its chunks queued; one chunk's WeCom task; the minute's tick (expires 50 s).
    "campaigns.tasks.campaign_send_task": (BULK, 1800, 1900),
    "campaigns.tasks.campaign_chunk_send_task": (BULK, 300, 360),
    "campaigns.tasks.campaigns_tick_task": (BULK, 50, 60),
    "campaigns.tasks.campaigns_results_poll_task": (BULK, 240, 280),
    "campaigns.tasks.journeys_run_task": (BULK, 1800, 1900),
    # The exact audience count behind the admin preview's estimate.
    "campaigns.tasks.campaign_audience_count_task": (BULK, 600, 660),
    "clientbook.tasks.handovers_sync_task": (BULK, 1500, 1600),
    "clientbook.tasks.codes_route_refresh_task": (BULK, 240, 280),
    "coupons.tasks.coupons_expire_task": (BULK, 540, 580),
    "coupons.tasks.coupons_expiry_remind_task": (BULK, 1800, 1900),
    # A brand's order file (a redelivered one resumes after its last committed chunk).
    "customers.tasks.orders_import_task": (BULK, 3 * 3600, 3 * 3600 + 300),
    "insights.tasks.insights_refresh_task": (BULK, 840, 880),
    "insights.tasks.insights_nightly_task": (BULK, 3600, 3900),
    "insights.tasks.insights_recompute_task": (BULK, 2 * 3600, 2 * 3600 + 300),
    "suggestions.tasks.suggestion_model_build_task": (BULK, 1800, 1900),
    # The daily retention run, in batches of a few thousand rows (omni.retention).
    "omni.tasks.prune_task": (BULK, 3 * 3600, 3 * 3600 + 60),
    # The partitions of the append-only logs for the days and months ahead (omni.partitions): a few DDL statements.
    "omni.tasks.partitions_create_task": (BULK, 300, 360),
    # BOPIS: taking in a batch's store-pickup orders (a few set-based statements), a customer's message (one WeCom
    # call), the beat's sweep, reminders and expiry.
    "fulfilment.tasks.bopis_orders_recorded_task": (REALTIME, 60, 75),
    "fulfilment.tasks.bopis_customer_message_task": (REALTIME, 30, 40),
    "fulfilment.tasks.bopis_tick_task": (BULK, 240, 280),
    # The day-before appointment reminders: one WeCom call and one notice per appointment due tomorrow.
    "appointments.tasks.appointments_remind_task": (BULK, 1200, 1300),
}
app.conf.task_routes = {name: {"queue": queue} for name, (queue, _, _) in TASKS.items()}
app.conf.task_annotations = {
    name: {"soft_time_limit": soft, "time_limit": hard} for name, (_, soft, hard) in TASKS.items()
}
app.autodiscover_tasks()
# Observability: a worker binds the request id (and task id) a task was queued with to its log lines.
app.steps["worker"].add(DjangoStructLogInitStep)


@setup_logging.connect
def _logging_from_django_settings(**kwargs) -> None:
    """Celery leaves logging alone when this signal has a receiver: settings.LOGGING (JSON lines) applies."""


app.conf.beat_schedule = {
    "wecom-sync-nightly": {
        "task": "wecom.tasks.wecom_sync_all_task",
        "schedule": crontab(hour=3, minute=10),
    },
    # WeCom callback events whose queueing failed (the broker was down when they were stored) are queued within a
    # minute of the broker's return; any still pending after WECOM_CALLBACK_REQUEUE_AFTER are queued again.
    "wecom-callbacks-requeue": {
        "task": "wecom.tasks.callback_events_requeue_task",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    "suggestion-model-nightly": {
        "task": "suggestions.tasks.suggestion_model_build_task",
        "schedule": crontab(hour=2, minute=40),
    },
    # Redemption already refuses a coupon past its window by the clock; this keeps statuses (the customer's page,
    # the sidebar, reports) in step. Every ten minutes rather than nightly: relative windows end at local
    # midnight, caught by the 00:00 run, but a template's fixed window may end at any minute. When nothing is
    # due a run is one index probe; a run left queued behind a campaign is dropped instead of piling up.
    "coupons-expire": {
        "task": "coupons.tasks.coupons_expire_task",
        "schedule": crontab(minute="*/10"),
        "options": {"expires": 9 * 60},
    },
    # In the morning, so associates find the follow-up task when they start the day.
    "coupons-expiry-remind-daily": {
        "task": "coupons.tasks.coupons_expiry_remind_task",
        "schedule": crontab(hour=9, minute=0),
    },
    # Campaigns: start those whose send time has come and resume any that lost their worker; collect WeCom
    # confirmations and results, remind associates; make the journeys' follow-up tasks each morning.
    "campaigns-tick": {
        "task": "campaigns.tasks.campaigns_tick_task",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    "campaigns-results-poll": {
        "task": "campaigns.tasks.campaigns_results_poll_task",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    "campaigns-journeys-daily": {
        "task": "campaigns.tasks.journeys_run_task",
        "schedule": crontab(hour=8, minute=30),
    },
    # Insights: attribute new orders and rebuild today's and yesterday's figures; each night re-attribute the
    # attribution window (late touches, merges, returns); settle handovers from WeCom's transfer_result.
    "insights-refresh": {
        "task": "insights.tasks.insights_refresh_task",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 14 * 60},
    },
    "insights-nightly": {
        "task": "insights.tasks.insights_nightly_task",
        "schedule": crontab(hour=4, minute=20),
    },
    # Retention (omni.retention): rows past their period (OMNI_RETENTION_DAYS), in batches, after the night's
    # insights so that it never deletes what they still read.
    # Partitions ahead (omni.partitions: a week of days, three months), so that no row lands in a default partition.
    "partitions-create-daily": {
        "task": "omni.tasks.partitions_create_task",
        "schedule": crontab(hour=2, minute=40),
    },
    "retention-prune-daily": {
        "task": "omni.tasks.prune_task",
        "schedule": crontab(hour=4, minute=50),
    },
    "insights-handovers-sync": {
        "task": "clientbook.tasks.handovers_sync_task",
        "schedule": crontab(minute="*/30"),
        "options": {"expires": 25 * 60},
    },
    # Notices: those due (quiet hours ended, retries) every minute; the morning digest of today's tasks at 08:45,
    # after the default quiet hours and after the journeys' run has made the day's tasks.
    "notices-due-send": {
        "task": "notices.tasks.notices_due_send_task",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    "notices-digest-daily": {
        "task": "clientbook.tasks.notices_digest_task",
        "schedule": crontab(hour=8, minute=45),
    },
    # The tasks due today still open at 16:00 (a journey's among them): one reminder each, before the day ends.
    "notices-tasks-due-daily": {
        "task": "clientbook.tasks.notices_tasks_due_task",
        "schedule": crontab(hour=16, minute=0),
    },
    # BOPIS (fulfilment.bopis): store-pickup orders no hook took in, reminders before a pickup expires, expiry.
    "fulfilment-bopis-tick": {
        "task": "fulfilment.tasks.bopis_tick_task",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 4 * 60},
    },
    # Store and channel codes follow their schedule: who answers changes on the hour (and at a daily limit, on add).
    "codes-route-refresh": {
        "task": "clientbook.tasks.codes_route_refresh_task",
        "schedule": crontab(minute="0,30"),
        "options": {"expires": 25 * 60},
    },
    # Appointments: the day-before reminders to the customer and the associate (from 10:00 local; each claimed by
    # UPDATE … WHERE reminded_*_at IS NULL, so an overlapping or repeated run sends nothing more).
    "appointments-remind": {
        "task": "appointments.tasks.appointments_remind_task",
        "schedule": crontab(minute=5),
        "options": {"expires": 50 * 60},
    },
}
