"""Celery tasks of the notices: one notice's delivery (real-time queue) and the minute's sweep of those due (the end
of quiet hours, a retry's time, or any whose queueing or worker was lost). Both are idempotent: delivery locks the row
and sends only a pending, due notice."""

from celery import shared_task

from notices.services import notice_deliver, notices_due
from omni.retry import DATABASE_DISCONNECTS


@shared_task(acks_late=True, autoretry_for=DATABASE_DISCONNECTS, retry_backoff=2, retry_backoff_max=60, max_retries=5)
def notice_deliver_task(*, notice_id: int) -> str:
    return notice_deliver(notice_id=notice_id)


@shared_task
def notices_due_send_task() -> int:
    due = notices_due()
    for notice_id in due:
        notice_deliver(notice_id=notice_id)
    return len(due)
