"""Celery tasks for WeCom: thin, idempotent, on the real-time queue."""

from celery import shared_task

from wecom.client import WeComError
from wecom.services import callback_event_process, callback_events_requeue


class TransientWeComError(Exception):
    pass


# acks_late: the status guard in callback_event_process makes a second run harmless.
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientWeComError,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def callback_event_process_task(event_id: int) -> None:
    try:
        callback_event_process(event_id=event_id)
    except WeComError as exc:
        if exc.transient:
            raise TransientWeComError(str(exc)) from exc
        raise


@shared_task
def callback_events_requeue_task() -> int:
    return callback_events_requeue()
