"""Errors to Sentry, when SENTRY_DSN is set: unhandled errors of requests (Django) and tasks (Celery).

Nothing of a customer leaves with a report: no user, cookies, request bodies, query strings or frame variables
are collected (data_collection, sentry-sdk 3's successor of send_default_pii=False), and `event_scrub` removes
whatever of those an integration still attached and every phone number left in any string of the event (an
exception's message, a log breadcrumb). Each report is tagged with the request id (and the task id in a worker),
the id an operator finds in the log lines and in the response's X-Request-ID header.
"""

import structlog

from omni.redaction import redact_all

# Request headers worth having on a report; the others (Cookie, Authorization, Referer with its query) are not sent.
_HEADERS_KEPT = ["user-agent", "content-type", "x-request-id"]
_REQUEST_FIELDS_DROPPED = ("data", "cookies", "query_string", "env")
_CONTEXT_TAGS = ("request_id", "task_id")


def event_scrub(event: dict, hint: dict | None = None) -> dict:
    """before_send: the request id as a tag, the request stripped to its method, URL and harmless headers, and no
    phone number anywhere."""
    context = structlog.contextvars.get_contextvars()
    tags = event.setdefault("tags", {})
    for name in _CONTEXT_TAGS:
        if context.get(name):
            tags[name] = context[name]
    request = event.get("request")
    if isinstance(request, dict):
        for field in _REQUEST_FIELDS_DROPPED:
            request.pop(field, None)
        if isinstance(request.get("url"), str):
            request["url"] = request["url"].split("?", 1)[0]
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {key: value for key, value in headers.items() if key.lower() in _HEADERS_KEPT}
    event.pop("user", None)
    # A command's arguments (the Argv integration) may name a customer.
    event.get("extra", {}).pop("sys.argv", None)
    return redact_all(event, keep=frozenset(_CONTEXT_TAGS))


def sentry_init(*, dsn: str, environment: str, release: str | None, traces_sample_rate: float | None) -> None:
    """Called once per process, from the settings; the settings call it only when SENTRY_DSN is set."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import ignore_logger

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": _HEADERS_KEPT}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
            "gen_ai": {"inputs": False, "outputs": False},
        },
        before_send=event_scrub,
        traces_sample_rate=traces_sample_rate,
    )
    # django-structlog logs the failed request or task that the Django and Celery integrations already report.
    ignore_logger("django_structlog.middlewares.request")
    ignore_logger("django_structlog.celery.receivers")
