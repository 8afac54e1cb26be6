"""Celery tasks of the customers app: thin wrappers that load ids/paths and call one service."""

from pathlib import Path

from celery import shared_task

from customers.importing import orders_import_file
from customers.tags_rules import auto_tag_rules_apply, auto_tags_refresh


# acks_late: a worker that dies mid-import leaves the message to be redelivered, and the import
# resumes after its last committed chunk; its writes are keyed inserts, so a second run is harmless.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def orders_import_task(*, path: str, channel: str, options: dict) -> int:
    """Import an order file in the background; returns the ImportJob id."""
    return orders_import_file(path=Path(path), channel=channel, **options).job_id


@shared_task
def auto_tags_apply_task() -> int:
    """Every auto-tag rule against today's data (beat, nightly); returns how many rules ran."""
    return len(auto_tag_rules_apply())


@shared_task
def auto_tags_refresh_task(*, customer_ids: list[int], kinds: list[str]) -> int:
    """The rules of `kinds` for a few customers whose data an event changed (idempotent: it sets, not adds)."""
    return auto_tags_refresh(customer_ids=customer_ids, kinds=kinds)
