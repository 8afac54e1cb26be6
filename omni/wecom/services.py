"""Callback events: verify-and-store (fast, in the request) and process (once, in Celery)."""

import hashlib
import json
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from omni.wecom.client import WeComError
from omni.wecom.crypto import CallbackCrypto
from omni.wecom.events import EventNotApplicable, event_kind, handler_for, is_known
from omni.wecom.models import CallbackEvent

logger = logging.getLogger(__name__)


def callback_crypto() -> CallbackCrypto:
    return CallbackCrypto(
        token=settings.WECOM_TOKEN,
        encoding_aes_key=settings.WECOM_ENCODING_AES_KEY,
        corp_id=settings.WECOM_CORP_ID,
        max_age=settings.WECOM_CALLBACK_MAX_AGE,
    )


def callback_event_store(*, payload: dict) -> CallbackEvent | None:
    """Keep a verified, decrypted event and queue its processing; a re-delivery is stored once.

    Returns None for events Omni does not handle (logged and ignored).
    """
    if not is_known(payload):
        logger.info("Ignoring WeCom event %s/%s", *event_kind(payload))
        return None
    event, change_type = event_kind(payload)
    key = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    with transaction.atomic():
        stored, created = CallbackEvent.objects.get_or_create(
            dedupe_key=key, defaults={"event": event, "change_type": change_type, "payload": payload}
        )
        if created:
            # Imported here: the task module imports this one.
            from omni.wecom.tasks import callback_event_process_task

            transaction.on_commit(lambda: callback_event_process_task.delay(stored.pk))
    return stored


def callback_event_process(*, event_id: int) -> CallbackEvent:
    """Run the event's handler exactly once.

    The row lock and the status guard make a redelivered task a no-op. A transient WeCom error rolls
    everything back and propagates, so the task retries later; any other WeCom error marks the event
    failed (visible in admin) without retrying.
    """
    with transaction.atomic():
        event = CallbackEvent.objects.select_for_update().get(pk=event_id)
        if event.status != CallbackEvent.Status.PENDING:
            return event
        try:
            with transaction.atomic():
                handler_for(event.payload)(event.payload)
        except WeComError as exc:
            if exc.transient:
                raise
            event.status, event.error = CallbackEvent.Status.FAILED, str(exc)
        except EventNotApplicable as exc:
            event.status, event.error = CallbackEvent.Status.FAILED, str(exc)
        else:
            event.status = CallbackEvent.Status.DONE
        event.attempts += 1
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "attempts", "processed_at"])
    return event
