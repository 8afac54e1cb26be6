"""Celery tasks of the client book: the welcome message (real-time queue) and the handovers' follow-up (beat).

Both are safe to run twice: the welcome's status is guarded, and a handover item moves once (status-guarded
UPDATE). WeCom rate limits are retried with backoff.
"""

from celery import shared_task

from clientbook.codes import codes_route_refresh
from clientbook.handover import handovers_sync_open
from clientbook.notifying import notices_digest_all, notices_tasks_due_all
from clientbook.services import welcome_message_send
from omni.retry import DATABASE_DISCONNECTS
from wecom.client import WeComError
from wecom.tasks import TransientWeComError


# Real-time queue: WeCom accepts the welcome message only within 20 s of the add event. Retries are
# quick and few; the service itself refuses once the window has passed. A database disconnect is retried too: a
# second send after one that reached WeCom is answered 41051 (already sent), recorded as such.
@shared_task(
    acks_late=True,
    autoretry_for=(TransientWeComError, *DATABASE_DISCONNECTS),
    retry_backoff=1,
    retry_backoff_max=4,
    max_retries=4,
)
def welcome_message_send_task(*, follow_id: int, welcome_code: str, received: int) -> str:
    try:
        return welcome_message_send(follow_id=follow_id, welcome_code=welcome_code, received=received)
    except WeComError as exc:
        raise TransientWeComError(str(exc)) from exc


@shared_task(bind=True, max_retries=5)
def handovers_sync_task(self) -> int:
    """Settle waiting handover customers from WeCom's transfer_result (a busy WeCom is retried, with backoff)."""
    try:
        return handovers_sync_open()
    except WeComError as exc:
        if not exc.transient:
            raise
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc


@shared_task
def notices_digest_task() -> int:
    """The morning digest of today's tasks for every active associate who has any (one notice each, deduplicated by
    day, so a second run sends nothing)."""
    return notices_digest_all()


@shared_task
def notices_tasks_due_task() -> int:
    """The afternoon's reminder of the tasks due today still open, one notice per associate who has any (deduplicated
    by day)."""
    return notices_tasks_due_all()


@shared_task
def codes_route_refresh_task() -> int:
    """Write each scheduled code's members to WeCom where the schedule's answer changed (idempotent)."""
    return codes_route_refresh()
