"""Structured logs: structlog for Omni's own events and for every `logging.getLogger(...)` call.

One formatter for both (structlog's ProcessorFormatter), so a line from the standard library carries the same
context — the request id and user of a web request, the task id and the request id of the request that queued the
task in a Celery worker — as django-structlog's own `request_finished` and `task_succeeded` lines. JSON lines in
production (one object per line, for the log store); a readable console in development. No Django imports: the
settings call this module.
"""

import logging
from typing import Any

import structlog

from omni.redaction import redact_all

# Ids are left as they came (a request id from the proxy is checked when it arrives, see omni.request_id).
_IDS = frozenset({"request_id", "task_id", "parent_task_id", "child_task_id", "correlation_id"})


def redacted(logger: Any, method_name: str, event_dict: dict) -> dict:
    """A structlog processor: no phone number or credential in any field of a line, whoever logged it and how."""
    return redact_all(event_dict, keep=_IDS)


# What every line gets, whether it was logged through structlog or the standard library.
_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def structlog_configure() -> None:
    """structlog hands its events to the standard library, whose handlers (settings.LOGGING) render them."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def log_formatter(log_format: str) -> logging.Formatter:
    """The formatter of `LOGGING`: "json" (one JSON object per line) or "console" (for people)."""
    # Tracebacks become a field of the line (plain: no frame variables, which may hold a customer), then every field
    # is redacted, the traceback included.
    if log_format == "json":
        last = [
            structlog.processors.format_exc_info,
            redacted,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
    elif log_format == "console":
        last = [
            structlog.processors.format_exc_info,
            redacted,
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
        ]
    else:
        raise ValueError(f"OMNI_LOG_FORMAT is json or console, not {log_format!r}")
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last],
    )


def logging_config(*, log_format: str, level: str) -> dict:
    """settings.LOGGING: everything to stderr through one structlog formatter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": "omni.logs.log_formatter", "log_format": log_format}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # django-structlog's request_finished line says what Django's own request and server lines say.
            "django.request": {"level": "CRITICAL"},
            "django.server": {"level": "WARNING"},
            # django-axes' "BEGIN version …" at every process start (each manage.py command's first line otherwise);
            # its failures and lockouts (axes.handlers…) are still logged, and kept in its tables.
            "axes.apps": {"level": "WARNING"},
        },
    }
