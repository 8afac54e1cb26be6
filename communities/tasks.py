"""Celery tasks of the communities app: thin, idempotent (they re-fetch and converge)."""

from celery import shared_task

from communities.services import group_chat_recheck
from wecom.client import WeComError
from wecom.tasks import TransientWeComError


# acks_late: a re-fetch that runs twice converges to the same state and records no event twice.
@shared_task(
    acks_late=True,
    autoretry_for=(TransientWeComError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def group_chat_recheck_task(payload: dict, attempt: int) -> None:
    try:
        group_chat_recheck(payload=payload, attempt=attempt)
    except WeComError as exc:
        if exc.transient:
            raise TransientWeComError(str(exc)) from exc
        raise
