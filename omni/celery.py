"""The Celery application: real-time and bulk queues, schedules declared in code."""

import os

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")

app = Celery("omni")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("realtime"), Queue("bulk"))
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "wecom-sync-nightly": {
        "task": "associates.tasks.wecom_sync_all_task",
        "schedule": crontab(hour=3, minute=10),
    },
}
