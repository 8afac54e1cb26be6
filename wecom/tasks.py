"""Celery tasks for WeCom: callback events (real-time queue) and full syncs (bulk queue); thin and idempotent."""

import logging

from celery import shared_task
from kombu.exceptions import KombuError

from omni.retry import DATABASE_DISCONNECTS
from wecom.client import WeComError
from wecom.models import SyncRun
from wecom.services import callback_event_not_queued, callback_event_process, callback_events_requeue
from wecom.sync import sync_page, sync_start

logger = logging.getLogger(__name__)


class TransientWeComError(Exception):
    pass


# acks_late, and retried on database disconnects: the status guard under the row lock in callback_event_process
# makes a second run harmless.
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientWeComError, *DATABASE_DISCONNECTS),
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


def callback_event_queue(event_id: int) -> None:
    """Queue a stored event's processing; a broker that cannot take it loses nothing (the requeue job sends it)."""
    try:
        callback_event_process_task.delay(event_id)
    except (KombuError, OSError):
        logger.exception("WeCom callback event %s stored, but not queued; the requeue job will send it", event_id)
        callback_event_not_queued(event_id=event_id)


@shared_task
def callback_events_requeue_task() -> int:
    return callback_events_requeue(process_later=callback_event_queue)


# One page per task, re-enqueued while there is more: a dead worker loses at most the page in hand,
# which the redelivered task redoes (page writes are upserts).
@shared_task(
    acks_late=True,
    autoretry_for=(TransientWeComError, *DATABASE_DISCONNECTS),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=10,
)
def wecom_sync_task(run_id: int) -> None:
    try:
        more = sync_page(run_id=run_id)
    except WeComError as exc:
        if exc.transient:
            raise TransientWeComError(str(exc)) from exc
        SyncRun.objects.filter(pk=run_id).update(status=SyncRun.Status.FAILED, error=str(exc))
        raise
    if more:
        wecom_sync_task.delay(run_id)


@shared_task
def wecom_sync_all_task() -> None:
    """Nightly: refresh tags, contacts and groups from WeCom."""
    for kind in SyncRun.Kind.values:
        wecom_sync_task.delay(sync_start(kind=kind).pk)
