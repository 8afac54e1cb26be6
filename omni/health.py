"""Health endpoints for the load balancer and the orchestrator; public, and independent of WeCom.

/healthz: the process answers (no dependency is touched), for liveness probes.
/readyz: this node can serve: the database answers, the cache and the Celery broker answer, and no migration of
this code is unapplied. JSON naming each check, `{"status": "ok", "checks": {"database": "ok", …}}`; 503 when one
fails, with its reason in place of "ok", so the balancer takes the node out until it is ready again.

Not django-health-check's view: it answers 500 rather than 503, names checks by their repr
("Database(alias='default')"), runs synchronous checks on executor threads (each holding a database connection of
its own beside the request's) and has neither a migrations check nor a broker check that does not need a worker
(its Celery check pings workers).
"""

import logging
import os

import redis
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# Seconds a probe may wait for Redis before calling it down (the balancer's probe has its own, longer timeout).
PROBE_TIMEOUT = 2
_migrations_applied = False  # once true, true for the life of this process: its code does not change


class NotReady(Exception):
    """A check's own finding, safe to show as it is."""


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    # Through the alias that raises: the default one reads an unreachable Redis as a miss (omni.settings, CACHES).
    store = caches["locks"]
    store.set("omni:readyz", "ok", timeout=10)
    if store.get("omni:readyz") != "ok":
        raise NotReady("the cache did not return what was just written")


def _broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):  # the embedded default: the queue is a folder
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        if not os.access(folder, os.W_OK):
            raise NotReady("the queue folder is not writable")
        return
    client = redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()


def _migrations() -> None:
    global _migrations_applied
    if _migrations_applied:
        return
    executor = MigrationExecutor(connection)
    unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if unapplied:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in unapplied[:5])
        raise NotReady(f"{len(unapplied)} unapplied (run `./run migrate`): {names}")
    _migrations_applied = True


CHECKS = {"database": _database, "cache": _cache, "broker": _broker, "migrations": _migrations}


def _answer(payload: dict, status: int) -> JsonResponse:
    response = JsonResponse(payload, status=status)
    add_never_cache_headers(response)
    return response


class ProbeMiddleware:
    """Answers /healthz and /readyz before anything reads the Host header (CommonMiddleware validates it against
    ALLOWED_HOSTS) and before the HTTPS redirect: a balancer's or orchestrator's probe speaks plain HTTP to the node
    and names it by its address, not by the brand's host name. The routes in omni/urls.py name the same views."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        probe = PROBES.get(request.path_info)
        return probe(request) if probe is not None else self.get_response(request)


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return _answer({"status": "ok"}, 200)


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    results = {}
    for name, check in CHECKS.items():
        if name == "migrations" and results["database"] != "ok":
            results[name] = "skipped: the database is unavailable"
            continue
        try:
            check()
        except NotReady as error:
            results[name] = f"unavailable: {error}"
        except Exception as error:  # any failure is "not ready", never a 500
            # The answer is public: the error's class only; its text (hosts, ports) goes to the log.
            logger.warning("readyz: %s is not ready: %s", name, error)
            results[name] = f"unavailable: {type(error).__name__}"
        else:
            results[name] = "ok"
    ready = all(result == "ok" for result in results.values())
    return _answer({"status": "ok" if ready else "unavailable", "checks": results}, 200 if ready else 503)


PROBES = {"/healthz": healthz, "/readyz": readyz}
