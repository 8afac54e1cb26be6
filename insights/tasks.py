"""Celery tasks of insights: attribution and the dashboard's daily figures (beat), recomputes.

All are safe to run twice or concurrently: attribution and figures replace whole orders / days.
"""

import datetime as dt

from celery import shared_task
from django.utils import timezone

from insights.attribution import attribution_config_get, attribution_recompute, attribution_refresh
from insights.notifying import sales_notify
from insights.stats import daily_stats_refresh


@shared_task(acks_late=True)
def insights_refresh_task(*, days: int = 2) -> int:
    """Attribute new orders (telling the associates credited through their chat), then rebuild the figures of the last
    `days` local days."""
    before = attribution_config_get().attributed_through_order_id
    attribution_refresh()
    sales_notify(after_order_id=before, through_order_id=attribution_config_get().attributed_through_order_id)
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
