"""The coupons' nightly jobs: expiring coupons past their window, and reminding the sending associate when a
customer's coupons are about to expire. Both are safe to run twice (coupons.tasks runs them on a schedule).
"""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from clientbook.models import FollowUpTask
from coupons.models import Coupon
from coupons.validity import local_day


def coupons_expire(*, now: dt.datetime | None = None, batch_size: int = 5000) -> int:
    """Mark issued coupons past their window expired, a batch per transaction; safe to run twice."""
    now = now or timezone.now()
    expired = 0
    while True:
        ids = list(
            Coupon.objects.filter(status=Coupon.Status.ISSUED, valid_until__lte=now).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return expired
        expired += Coupon.objects.filter(pk__in=ids, status=Coupon.Status.ISSUED).update(status=Coupon.Status.EXPIRED)


REMIND_DAYS_BEFORE = 3


def coupons_expiry_remind(*, now: dt.datetime | None = None) -> int:
    """A task for the sending associate when a customer's coupons expire within three days; once per coupon.

    One task per associate, customer and expiry day, so a pack of three coupons makes one task. Returns the
    number of coupons newly covered by a reminder.
    """
    now = now or timezone.now()
    due = Coupon.objects.filter(
        status=Coupon.Status.ISSUED,
        reminded_at__isnull=True,
        associate__isnull=False,
        valid_until__gt=now,
        valid_until__lte=now + dt.timedelta(days=REMIND_DAYS_BEFORE),
    )
    groups: dict[tuple[int, int, dt.date], list[int]] = {}
    for pk, associate_id, customer_id, valid_until in due.values_list(
        "pk", "associate_id", "customer_id", "valid_until"
    ):
        ends = local_day(valid_until - dt.timedelta(microseconds=1))
        groups.setdefault((associate_id, customer_id, ends), []).append(pk)
    with transaction.atomic():
        FollowUpTask.objects.bulk_create(
            [
                FollowUpTask(
                    associate_id=associate_id,
                    customer_id=customer_id,
                    title=f"{len(ids)} 张优惠券 {ends:%m月%d日} 到期，提醒客户使用",
                    due_on=min(ends, local_day(now) + dt.timedelta(days=1)),
                    occasion=f"coupons-expiring:{ends:%Y-%m-%d}",
                )
                for (associate_id, customer_id, ends), ids in groups.items()
            ],
            ignore_conflicts=True,
        )
        ids = [pk for group in groups.values() for pk in group]
        return Coupon.objects.filter(pk__in=ids, reminded_at__isnull=True).update(reminded_at=now)
