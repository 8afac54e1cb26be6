"""Celery tasks of the platform: the daily retention run."""

from celery import shared_task

from omni.retention import prune


# Idempotent (a second run finds nothing past its period), so a lost worker's run may simply be run again.
@shared_task(acks_late=True)  # its queue and time limits: omni.celery.TASKS
def prune_task() -> dict[str, int]:
    """Delete every kind's rows past their period; answers the rows deleted per kind."""
    return {pruned.name: pruned.rows for pruned in prune(dry_run=False)}
