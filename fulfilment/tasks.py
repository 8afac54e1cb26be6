"""Celery tasks of fulfilment: the beat's expiry of holds past their time (omni.celery).

Safe to run twice or concurrently (`holds.holds_expire` locks the due holds with SKIP LOCKED and moves each only from
an open status), so a redelivered message (`acks_late`) releases nothing twice; it is not retried: the next run, a few
minutes later, takes whatever one missed.
"""

from celery import shared_task

from fulfilment.holds import holds_expire


@shared_task(acks_late=True)
def holds_expire_task() -> int:
    """Expire the holds past their time and release their units; returns how many."""
    return holds_expire()
