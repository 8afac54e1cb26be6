"""Celery tasks of the coupons app: the periodic jobs that expire coupons and remind associates (omni.celery beat).

Both run on the bulk queue (the default route) and are safe to run twice or concurrently: expiring is a
status-guarded UPDATE, and a reminder is made once per coupon (`Coupon.reminded_at`) and once per associate,
customer and expiry day (a unique occasion on the follow-up task). So a redelivered message (`acks_late`) or an
overlapping run changes nothing, and neither is retried: the next scheduled run picks up whatever one missed.
"""

from celery import shared_task

from coupons.expiry import coupons_expire, coupons_expiry_remind

EXPIRE_BATCH = 5000


@shared_task(acks_late=True)
def coupons_expire_task(*, batch_size: int = EXPIRE_BATCH) -> int:
    """Mark issued coupons past their window expired; returns how many."""
    return coupons_expire(batch_size=batch_size)


@shared_task(acks_late=True)
def coupons_expiry_remind_task() -> int:
    """Make follow-up tasks for associates whose customers' coupons expire within three days."""
    return coupons_expiry_remind()
