"""The request id: taken from the proxy's X-Request-ID when well-formed, made here otherwise; bound to every log line
of the request (and, through django-structlog's Celery support, of the tasks it queues) and sent back in the
response's X-Request-ID, so an operator can go from a user's report to the lines and the error report of it."""

import re
import time
import uuid

import structlog
from django.http import HttpRequest, HttpResponse
from django_structlog.middlewares import RequestMiddleware

from omni.proxy import client_ip

REQUEST_ID_HEADER = "X-Request-ID"
# nginx's $request_id (32 hex digits), a UUID, or any similar token; anything else (too long, spaces, quotes, control
# characters: a log injection) is replaced.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,127}")


def request_id_from(incoming: str | None) -> str:
    """The proxy's id when it is well-formed, a new one otherwise."""
    if incoming and REQUEST_ID_PATTERN.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestLogMiddleware(RequestMiddleware):
    """django-structlog's request logging with Omni's request id, the view and the duration on the line, and the
    path without its query string (a search may carry a customer's phone number or name)."""

    def prepare(self, request: HttpRequest) -> None:
        # django-structlog reads the id from the header (DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID): give it ours.
        request.META["HTTP_X_REQUEST_ID"] = request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.__dict__.pop("headers", None)  # a cached copy of the headers would still hold the incoming one
        request._omni_started = time.monotonic()
        super().prepare(request)

    def handle_response(self, request: HttpRequest, response: HttpResponse) -> None:
        response[REQUEST_ID_HEADER] = request.META["HTTP_X_REQUEST_ID"]
        match = getattr(request, "resolver_match", None)
        structlog.contextvars.bind_contextvars(
            view=match.view_name if match else None,
            duration_ms=round((time.monotonic() - request._omni_started) * 1000, 1),
        )
        super().handle_response(request, response)

    @staticmethod
    def format_request(request: HttpRequest) -> str:
        return f"{request.method} {request.path}"

    @classmethod
    def bind_ip(cls, request: HttpRequest) -> None:
        # The client's address behind the trusted proxies (omni.proxy), as in the audit log, not django-ipware's guess
        # from X-Forwarded-For (the leftmost public entry, one a client can write itself).
        structlog.contextvars.bind_contextvars(ip=client_ip(request))
