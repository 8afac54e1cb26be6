"""Omni's URLs plus a view that queues a task that logs and one that fails, for tests/test_observability.py and
tests/test_sentry.py."""

import logging

from celery import shared_task
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from omni.urls import urlpatterns as omni_urlpatterns

logger = logging.getLogger("tests.observability")


@shared_task
def observability_log_task(note: str) -> None:
    logger.info("task logged %s", note)


@shared_task
def observability_failing_task() -> None:
    raise RuntimeError("this task fails")


@csrf_exempt
def boom(request):
    """An unhandled error whose message carries the phone number the request sent (tests/test_sentry.py)."""
    raise RuntimeError(f"could not reach customer {request.GET.get('phone')}")


def queue_a_task(request):
    observability_log_task.delay(request.GET.get("note", ""))
    return HttpResponse("queued")


urlpatterns = [*omni_urlpatterns, path("test/queue-a-task/", queue_a_task), path("test/boom/", boom)]
