"""Celery tasks of the customers app: thin wrappers that load ids/paths and call one service."""

from pathlib import Path

from celery import shared_task

from customers.importing import orders_import_file


# acks_late: a worker that dies mid-import leaves the message to be redelivered, and the import
# resumes after its last committed chunk; its writes are keyed inserts, so a second run is harmless.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def orders_import_task(*, path: str, channel: str, options: dict) -> int:
    """Import an order file in the background; returns the ImportJob id."""
    return orders_import_file(path=Path(path), channel=channel, **options).job_id
