"""Celery tasks of the associates app."""

from celery import shared_task

from associates.services import welcome_message_send
from associates.sync import sync_page, sync_start
from wecom.client import WeComError
from wecom.models import SyncRun
from wecom.tasks import TransientWeComError


# Real-time queue: WeCom accepts the welcome message only within 20 s of the add event. Retries are
# quick and few; the service itself refuses once the window has passed.
@shared_task(
    acks_late=True,
    autoretry_for=(TransientWeComError,),
    retry_backoff=1,
    retry_backoff_max=4,
    max_retries=4,
)
def welcome_message_send_task(*, follow_id: int, welcome_code: str, received: int) -> str:
    try:
        return welcome_message_send(follow_id=follow_id, welcome_code=welcome_code, received=received)
    except WeComError as exc:
        raise TransientWeComError(str(exc)) from exc


# One page per task, re-enqueued while there is more: a dead worker loses at most the page in hand,
# which the redelivered task redoes (page writes are upserts).
@shared_task(
    acks_late=True,
    autoretry_for=(TransientWeComError,),
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
