"""The Celery application: real-time and bulk queues, schedules declared in code."""

import os

from celery import Celery
from celery.schedules import crontab
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")

app = Celery("omni")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each queue on its own exchange and key: a queue declared bare inherits the default exchange and key
# ("bulk"), and then one message would reach both queues.
app.conf.task_queues = (
    Queue("realtime", Exchange("realtime", type="direct"), routing_key="realtime"),
    Queue("bulk", Exchange("bulk", type="direct"), routing_key="bulk"),
)
app.autodiscover_tasks()

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
    "insights-handovers-sync": {
        "task": "clientbook.tasks.handovers_sync_task",
        "schedule": crontab(minute="*/30"),
        "options": {"expires": 25 * 60},
    },
}
