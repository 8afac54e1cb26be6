"""Celery tasks of the fulfilment app."""

from celery import shared_task

from fulfilment import bopis
from omni.retry import DATABASE_DISCONNECTS
from wecom.client import WeComError
from wecom.tasks import TransientWeComError

# BOPIS (fulfilment.bopis) ---------------------------------------------------------------------------------
# All safe twice: intake is idempotent by the pickup's request number, the status moves are guarded UPDATEs, and
# each customer message is claimed by a timestamp before it is sent. So a redelivered message (acks_late) or an
# overlapping beat run changes nothing; an orders batch whose hook was lost is taken in by the next tick's sweep.


@shared_task(acks_late=True, autoretry_for=DATABASE_DISCONNECTS, retry_backoff=2, max_retries=3)
def bopis_orders_recorded_task(*, order_ids: list[int]) -> dict[str, int]:
    return bopis.bopis_orders_recorded(order_ids=order_ids)


def bopis_orders_recorded_queue(order_ids: list[int]) -> None:
    """The hook `customers.ingestion.orders_recorded_register` calls after an orders batch commits."""
    bopis_orders_recorded_task.delay(order_ids=order_ids)


@shared_task(
    acks_late=True,
    autoretry_for=(TransientWeComError, *DATABASE_DISCONNECTS),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def bopis_customer_message_task(*, pickup_id: int, purpose: str) -> str:
    try:
        return bopis.bopis_customer_message_send(pickup_id=pickup_id, purpose=purpose)
    except WeComError as exc:  # only a busy WeCom reaches here: the claim was released
        raise TransientWeComError(str(exc)) from exc


def bopis_ready_message_later(pickup_id: int) -> None:
    bopis_customer_message_task.delay(pickup_id=pickup_id, purpose=bopis.READY)


def bopis_reminder_later(pickup_id: int) -> None:
    bopis_customer_message_task.delay(pickup_id=pickup_id, purpose=bopis.REMINDER)


@shared_task(acks_late=True)
def bopis_tick_task() -> dict[str, int]:
    """The beat: store-pickup orders no hook took in, reminders before expiry, expiry."""
    return bopis.bopis_tick(send_later=bopis_reminder_later)
