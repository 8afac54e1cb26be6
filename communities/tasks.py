"""Celery tasks of the communities app: thin, idempotent (they re-fetch and converge)."""

from celery import shared_task
from django.db import transaction

from communities.services import RECHECK_FIRST_PAUSE, group_chat_recheck
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
        group_chat_recheck(payload=payload, attempt=attempt, recheck_later=group_chat_recheck_later)
    except WeComError as exc:
        if exc.transient:
            raise TransientWeComError(str(exc)) from exc
        raise


def group_chat_recheck_later(payload: dict, attempt: int) -> None:
    """Look at a group's callback again after a pause that grows with each attempt, once this transaction commits."""
    countdown = RECHECK_FIRST_PAUSE * 2 ** (attempt - 1)
    transaction.on_commit(lambda: group_chat_recheck_task.apply_async((payload, attempt), countdown=countdown))
