"""Celery tasks of the platform: the daily retention run, the daily creation of partitions ahead."""

from celery import shared_task

from omni.partitions import partitions_create
from omni.retention import prune


# Idempotent (a second run finds nothing past its period), so a lost worker's run may simply be run again.
@shared_task(acks_late=True)  # its queue and time limits: omni.celery.TASKS
def prune_task() -> dict[str, int]:
    """Delete every kind's rows past their period; answers the rows deleted per kind."""
    return {pruned.name: pruned.rows for pruned in prune(dry_run=False)}


# Idempotent: a second run finds the partitions made and creates none.
@shared_task(acks_late=True)  # its queue and time limits: omni.celery.TASKS
def partitions_create_task() -> list[str]:
    """Create the partitions each partitioned table keeps ready ahead (omni.partitions); answers their names."""
    return partitions_create()
