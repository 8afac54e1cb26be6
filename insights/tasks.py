"""Celery tasks of insights: attribution and the dashboard's daily figures (beat), recomputes, handover sync.

All are safe to run twice or concurrently: attribution and figures replace whole orders / days, and a handover
item moves once (status-guarded UPDATE). WeCom rate limits are retried with backoff; nothing else is.
"""

import datetime as dt

from celery import shared_task
from django.utils import timezone

from insights.attribution import attribution_config_get, attribution_recompute, attribution_refresh
from insights.services import handovers_sync_open
from insights.stats import daily_stats_refresh
from wecom.client import WeComError


@shared_task(acks_late=True)
def insights_refresh_task(*, days: int = 2) -> int:
    """Attribute new orders, then rebuild the figures of the last `days` local days."""
    attribution_refresh()
    today = timezone.localdate()
    return daily_stats_refresh(start=today - dt.timedelta(days=days - 1), end=today)


@shared_task(acks_late=True)
def insights_nightly_task() -> int:
    """Re-attribute and rebuild the attribution window's days: late touches, merges and returns settle there."""
    window = attribution_config_get().window_days
    today = timezone.localdate()
    start = today - dt.timedelta(days=window + 1)
    tz = timezone.get_current_timezone()
    attribution_recompute(
        start=dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        end=dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )
    return daily_stats_refresh(start=start, end=today)


@shared_task(acks_late=True)
def insights_recompute_task(*, start: str, end: str) -> int:
    """After a rule change: re-attribute orders placed on local days start..end (ISO dates) and rebuild them."""
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    tz = timezone.get_current_timezone()
    attribution_recompute(
        start=dt.datetime.combine(first, dt.time.min, tzinfo=tz),
        end=dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )
    return daily_stats_refresh(start=first, end=last)


@shared_task(bind=True, max_retries=5)
def handovers_sync_task(self) -> int:
    """Settle waiting handover customers from WeCom's transfer_result (a busy WeCom is retried, with backoff)."""
    try:
        return handovers_sync_open()
    except WeComError as exc:
        if not exc.transient:
            raise
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
