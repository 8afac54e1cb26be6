"""Celery tasks for campaigns: thin wrappers over campaigns.services, on the bulk queue (the default route).

The send tasks are `acks_late` with `reject_on_worker_lost`: a worker killed mid-task gives the message back,
and a second run is harmless because every step is a status-guarded compare-and-set (see services' policy).
WeCom being busy or rate-limited (45009 / 45033 / -1) and the database dropping the connection (omni.retry) are
retried with backoff; anything else marks the chunk failed with its reason, for an admin to retry.
"""

from celery import shared_task

from campaigns.notifying import campaign_confirm_notify
from campaigns.services import (
    ChunkRetry,
    campaign_audience_count_store,
    campaign_chunk_send,
    campaign_results_poll,
    campaign_send_start,
    campaigns_due,
    campaigns_to_resume,
    journeys_run,
)
from omni.retry import DATABASE_DISCONNECTS
from wecom.client import WeComError


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=DATABASE_DISCONNECTS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=8,
)
def campaign_send_task(campaign_id: int) -> int:
    """Resolve the audience (once) and queue one task per chunk still to create; returns how many."""
    chunk_ids = campaign_send_start(campaign_id=campaign_id)
    for chunk_id in chunk_ids:
        campaign_chunk_send_task.delay(chunk_id)
    return len(chunk_ids)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(ChunkRetry, *DATABASE_DISCONNECTS),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=10,
)
def campaign_chunk_send_task(self, chunk_id: int) -> str:
    """Create one chunk's WeCom mass-message task (at most once), then tell its associate it waits for her."""
    try:
        outcome = campaign_chunk_send(chunk_id=chunk_id)
    except WeComError as error:
        # Reconciling (get_groupmsg_list_v2) hit a busy WeCom: the chunk is untouched, try again later.
        if error.transient:
            raise self.retry(exc=error, countdown=min(300, 5 * 2**self.request.retries)) from error
        raise
    if outcome in ("created", "exists"):
        campaign_confirm_notify(chunk_id=chunk_id)
    return outcome


@shared_task(acks_late=True)
def campaigns_tick_task() -> int:
    """Every minute: start approved campaigns whose time has come, and resume any that lost their worker."""
    started = 0
    for campaign_id in dict.fromkeys(campaigns_due() + campaigns_to_resume()):
        campaign_send_task.delay(campaign_id)
        started += 1
    return started


@shared_task(acks_late=True)
def campaigns_results_poll_task() -> dict:
    """Collect confirmations and per-recipient results of WeCom tasks; remind and expire."""
    polled = campaign_results_poll()
    return {"confirmed": polled.confirmed, "reminded": polled.reminded, "expired": polled.expired}


@shared_task(acks_late=True)
def journeys_run_task() -> dict:
    """Each morning: the journeys' follow-up tasks (birthdays, post-purchase, lapsing), once per occasion."""
    made = journeys_run()
    return {"birthday": made.birthday, "post_purchase": made.post_purchase, "lapsing": made.lapsing}


@shared_task(acks_late=True, autoretry_for=DATABASE_DISCONNECTS, retry_backoff=2, max_retries=3)
def campaign_audience_count_task(campaign_id: int) -> int:
    """The exact audience size the admin preview shows after its estimate (a read, harmless to run twice)."""
    return campaign_audience_count_store(campaign_id=campaign_id)
