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
        "task": "associates.tasks.wecom_sync_all_task",
        "schedule": crontab(hour=3, minute=10),
    },
    "suggestion-model-nightly": {
        "task": "suggestions.tasks.suggestion_model_build_task",
        "schedule": crontab(hour=2, minute=40),
    },
}
