"""Prometheus metrics at /metrics: Omni's own counters beside django-prometheus's requests and latencies.

- Celery tasks by name: runs by outcome and durations (Celery's signals, in whichever process runs the task).
- The realtime and bulk queues' depths, read from the broker when /metrics is scraped (not stored).
- WeCom API calls by endpoint and errcode (wecom.client), WeCom callbacks accepted and refused (wecom.views).

Web (uWSGI's workers) and Celery (a worker's pool) are separate processes. When PROMETHEUS_MULTIPROC_DIR is set,
prometheus-client keeps each process's values in files there and /metrics adds up the files of every process on the
host; the directory must be emptied when the host's processes are (re)started (docs/operations.md). Unset (tests,
development), values live in this process's default registry.

/metrics answers the addresses of OMNI_METRICS_ALLOWED_IPS and anyone with `Authorization: Bearer
<OMNI_METRICS_TOKEN>`. A request that came through a proxy (it carries X-Forwarded-For or Forwarded) is admitted by
its token only: behind a proxy on the same host every visitor would otherwise look like the loopback address.
"""

import hmac
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from celery import current_app
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from omni.proxy import FORWARDED_MARK

logger = logging.getLogger(__name__)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Each process's file is named by its pid, but containers sharing the directory (web and workers of one host)
    # each count pids from 1: the host name, a container's own, keeps their files apart. Set before any metric is
    # made (this module is imported first, by omni.celery), django-prometheus's included.
    _HOST = socket.gethostname()
    values.ValueClass = values.MultiProcessValue(process_identifier=lambda: f"{_HOST}-{os.getpid()}")

QUEUES = ("realtime", "bulk")

CELERY_TASKS = Counter(
    "omni_celery_tasks_total", "Celery task runs, by task and outcome (succeeded, failed, retry)", ["task", "outcome"]
)
CELERY_TASK_SECONDS = Histogram(
    "omni_celery_task_duration_seconds",
    "Celery task run time, by task",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
WECOM_API_CALLS = Counter(
    "omni_wecom_api_calls_total",
    "WeCom API answers, each attempt apart, by endpoint and errcode (0: success; http_error: no WeCom answer, e.g. a "
    "5xx; network: no answer at all)",
    ["endpoint", "errcode"],
)
WECOM_CALLBACKS = Counter(
    "omni_wecom_callbacks_total",
    "WeCom callbacks, by outcome (accepted, verified, refused) and the refusal's code",
    ["outcome", "reason"],
)

_CELERY_OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retry"}


def wecom_api_called(*, endpoint: str, errcode: int | str) -> None:
    WECOM_API_CALLS.labels(endpoint=endpoint, errcode=str(errcode)).inc()


def wecom_callback_answered(*, outcome: str, reason: str = "") -> None:
    WECOM_CALLBACKS.labels(outcome=outcome, reason=reason).inc()


@task_prerun.connect
def _task_started(task: Any = None, **kwargs: Any) -> None:
    task.request._omni_metrics_started = time.monotonic()


@task_postrun.connect
def _task_finished(task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    CELERY_TASKS.labels(task=task.name, outcome=_CELERY_OUTCOMES.get(state, str(state).lower())).inc()
    started = getattr(task.request, "_omni_metrics_started", None)
    if started is not None:
        CELERY_TASK_SECONDS.labels(task=task.name).observe(time.monotonic() - started)


class QueueDepthCollector:
    """Messages waiting in each queue, asked of the broker at scrape time: LLEN of the queue's keys on Redis (kombu
    keeps one list per priority step), the message files on the filesystem broker. A broker that does not answer
    shows as omni_celery_broker_up 0 and no depths."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depths = GaugeMetricFamily("omni_celery_queue_length", "Messages waiting in a Celery queue", labels=["queue"])
        up = GaugeMetricFamily("omni_celery_broker_up", "1 when the Celery broker answered the queue-depth query")
        try:
            found = queue_depths()
        except Exception:
            logger.warning("Celery broker did not answer the queue-depth query", exc_info=True)
            found = None
        for queue, depth in (found or {}).items():
            depths.add_metric([queue], depth)
        up.add_metric([], 0 if found is None else 1)
        yield depths
        yield up


def queue_depths() -> dict[str, int]:
    """{queue: messages waiting} for the realtime and bulk queues."""
    # Omni's app (omni.celery, which imports this module) is Celery's current app.
    with current_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1)
        channel = connection.default_channel
        # kombu's virtual channels (Redis, filesystem) count a queue's messages with _size: on Redis the LLEN of
        # each priority's list, summed; on the filesystem the queue's message files.
        return {queue: int(channel._size(queue)) for queue in QUEUES}


class _Scrape:
    """What one scrape collects: the values of every process (or of this one), and the queue depths of now."""

    def __init__(self, *collectors: Any):
        self.collectors = collectors

    def collect(self) -> Iterator[Any]:
        for collector in self.collectors:
            yield from collector.collect()


def metrics_scrape() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    return generate_latest(_Scrape(processes, QueueDepthCollector()))


def metrics_request_allowed(request: HttpRequest) -> bool:
    token = settings.OMNI_METRICS_TOKEN
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
        return True
    # Came through a proxy (whether or not it is trusted, whether or not its headers were kept): the token only.
    # Behind a proxy on the same host everyone would otherwise be 127.0.0.1.
    if request.META.get(FORWARDED_MARK) or "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(allowed, strict=False) for allowed in settings.OMNI_METRICS_ALLOWED_IPS)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_request_allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(metrics_scrape(), content_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Answers /metrics before the Host check and the HTTPS redirect: Prometheus scrapes each node by its address
    (not a name of ALLOWED_HOSTS) over plain HTTP. The URL route names the same view (reverse("metrics"))."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/metrics":
            return metrics_view(request)
        return self.get_response(request)
