"""Celery tasks for WeCom: callback events (real-time queue) and full syncs (bulk queue); thin and idempotent."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from kombu.exceptions import KombuError

from omni.retry import DATABASE_DISCONNECTS
from wecom.client import WeComBudgetExhausted, WeComError
from wecom.models import SyncPart, SyncRun
from wecom.services import callback_event_not_queued, callback_event_process, callback_events_requeue
from wecom.sync import sync_fans_out, sync_page, sync_part_page, sync_parts_queue, sync_start

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
# which the redelivered task redoes (page writes are upserts). A run that fans out per member is only watched here:
# its parts are queued a window at a time, and this task looks again every minute until the run ends.
@shared_task(
    acks_late=True,
    autoretry_for=(TransientWeComError, *DATABASE_DISCONNECTS),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=10,
)
def wecom_sync_task(run_id: int) -> None:
    kind = SyncRun.objects.filter(pk=run_id).values_list("kind", flat=True).first()
    if kind is not None and sync_fans_out(kind):
        try:
            sync_parts_queue(run_id=run_id, queue=_part_queue, window=settings.WECOM_SYNC_WINDOW)
        except WeComError as exc:  # the member list could not be read
            if exc.transient:
                raise TransientWeComError(str(exc)) from exc
            SyncRun.objects.filter(pk=run_id).update(status=SyncRun.Status.FAILED, error=str(exc))
            raise
        if SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).exists():
            wecom_sync_task.apply_async((run_id,), countdown=WATCH_SECONDS)
        return
    try:
        more = sync_page(run_id=run_id)
    except WeComError as exc:
        if exc.transient:
            raise TransientWeComError(str(exc)) from exc
        SyncRun.objects.filter(pk=run_id).update(status=SyncRun.Status.FAILED, error=str(exc))
        raise
    if more:
        wecom_sync_task.delay(run_id)


WATCH_SECONDS = 60
# Writes (each a few WeCom pages: the fan-out's `page`) one part task makes before it queues its follow-up: a member
# with many contacts does not hold a process past the task's time limit, and other parts get their turn.
PART_WRITES_PER_TASK = 20


def _part_queue(part_id: int) -> None:
    wecom_sync_part_task.delay(part_id)


# acks_late and reject_on_worker_lost: a worker killed mid-part has its task redelivered, which resumes at the part's
# saved cursor (each page commits with the cursor after it, under the part's row lock, so a doubled task is harmless).
# Retried on WeCom's transient answers, on lost connections and on a page whose writes met a concurrent writer's; past
# the hourly budget it waits for the next hour.
@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientWeComError, DatabaseError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=12,
)
def wecom_sync_part_task(self, part_id: int) -> None:
    try:
        for _ in range(PART_WRITES_PER_TASK):
            if not sync_part_page(part_id=part_id):
                break
        else:
            wecom_sync_part_task.delay(part_id)
            return
    except WeComBudgetExhausted as exc:
        raise self.retry(countdown=exc.retry_in + 1, max_retries=None) from exc
    except WeComError as exc:
        raise TransientWeComError(str(exc)) from exc
    run_id = SyncPart.objects.filter(pk=part_id).values_list("run_id", flat=True).first()
    if run_id is not None:
        sync_parts_queue(run_id=run_id, queue=_part_queue, window=settings.WECOM_SYNC_WINDOW)


@shared_task
def wecom_sync_all_task() -> None:
    """Nightly: refresh tags, contacts and groups from WeCom."""
    for kind in SyncRun.Kind.values:
        wecom_sync_task.delay(sync_start(kind=kind).pk)
