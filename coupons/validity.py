"""When a coupon may be used: the window a template gives a coupon issued now, counted in local days.

Local means Asia/Shanghai (settings.TIME_ZONE): a window ends at a local midnight, and the daily limits, quotas
and expiry reminders count local days.
"""

import datetime as dt

from django.utils import timezone

from coupons.models import CouponTemplate
from omni.errors import ApplicationError


def local_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment).date()


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of a local (Asia/Shanghai) day, as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def coupon_window(*, template: CouponTemplate, issued_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """When a coupon issued now may be used: the template's fixed window, or N days from issue.

    Relative validity counts local days: "7 days" issued on the 1st at 15:00 ends at midnight after the 7th;
    a delay of D days starts it at midnight D days after the day of issue.
    """
    if template.valid_days:
        issue_day = local_day(issued_at)
        starts = (
            issued_at
            if not template.valid_delay_days
            else _day_start(issue_day + dt.timedelta(days=template.valid_delay_days))
        )
        ends = _day_start(local_day(starts) + dt.timedelta(days=template.valid_days))
        return starts, ends
    if template.valid_until is None:
        raise ApplicationError("template_invalid", f"「{template}」没有设置有效期。")
    return template.valid_from or issued_at, template.valid_until
