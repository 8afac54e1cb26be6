"""Callback events: verify-and-store (fast, in the request) and process (once, in Celery)."""

import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from omni import rawsql
from wecom.client import WeComError
from wecom.crypto import CallbackCrypto
from wecom.events import EventNotApplicable, event_kind, handler_for, is_known
from wecom.models import CallbackEvent, CallbackEventKey

logger = logging.getLogger(__name__)
# An event's note while its processing task is known not to be in the broker (queueing it failed): the next requeue
# run sends it, whatever its age. Shown in admin as the event's error until then.
NOT_QUEUED = "not queued: the broker was unreachable; the requeue job will send it"


def callback_crypto() -> CallbackCrypto:
    return CallbackCrypto(
        token=settings.WECOM_TOKEN,
        encoding_aes_key=settings.WECOM_ENCODING_AES_KEY,
        corp_id=settings.WECOM_CORP_ID,
        max_age=settings.WECOM_CALLBACK_MAX_AGE,
    )


_EVENTS = CallbackEvent._meta.db_table
# PostgreSQL: the key first, in its own table (CallbackEventKey, by the event's time: the events are partitioned by
# their receipt's), the event only if the key was new, in one statement. SQLite: the event table's own unique key.
_STORE_SQL = {
    True: f"""
        WITH key AS (
            INSERT INTO {CallbackEventKey._meta.db_table} (dedupe_key, event_time) VALUES (%s, %s)
            ON CONFLICT (dedupe_key, event_time) DO NOTHING RETURNING dedupe_key
        )
        INSERT INTO {_EVENTS} (dedupe_key, received_at, event, change_type, payload, status, attempts, error)
        SELECT key.dedupe_key, %s, %s, %s, %s::jsonb, %s, 0, '' FROM key RETURNING id
    """,
    False: f"""
        INSERT INTO {_EVENTS} (dedupe_key, received_at, event, change_type, payload, status, attempts, error)
        VALUES (%s, %s, %s, %s, %s, %s, 0, '') ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
    """,
}


def _event_time(payload: dict, received_at: dt.datetime) -> dt.datetime:
    """The event's own time (its CreateTime, part of the payload the dedupe key digests), or its receipt's."""
    try:
        return dt.datetime.fromtimestamp(int(payload["CreateTime"]), tz=dt.UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return received_at


def callback_event_store(*, payload: dict, process_later: Callable[[int], None]) -> int | None:
    """Keep a verified, decrypted event and queue its processing; a re-delivery is stored once.

    One INSERT … ON CONFLICT DO NOTHING (on PostgreSQL into the key table, the event's INSERT beside it in the
    same statement): the request path stays a single round trip (the kept connection is not probed first: the
    INSERT is safe to run again, rawsql.unprobed), and a duplicate is recognised by the database, not by a
    check-then-insert race. A broker that cannot take the task loses nothing: the event is stored, WeCom gets its
    answer, and callback_events_requeue sends it later.
    `process_later(event_id)` queues the processing (`wecom.tasks.callback_event_queue`), after commit.
    Returns the new event's id, or None for a duplicate or an event Omni does not handle.
    """
    if not is_known(payload):
        logger.info("Ignoring WeCom event %s/%s", *event_kind(payload))
        return None
    event, change_type = event_kind(payload)
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    key = hashlib.sha256(raw.encode()).hexdigest()
    now = timezone.now()
    on_postgres = connection.vendor == "postgresql"
    params = [key, *([_event_time(payload, now)] if on_postgres else [])]
    params += [connection.ops.adapt_datetimefield_value(now), event, change_type, raw, CallbackEvent.Status.PENDING]
    found = rawsql.unprobed(lambda: rawsql.rows(_STORE_SQL[on_postgres], params, prepare=True))
    if not found:
        logger.info("WeCom event %s/%s delivered again; already stored", event, change_type)
        return None
    event_id = found[0][0]
    transaction.on_commit(lambda: process_later(event_id))
    return event_id


def callback_event_not_queued(*, event_id: int) -> None:
    """Note that queueing the event's processing failed, so that the next requeue run sends it."""
    CallbackEvent.objects.filter(pk=event_id, status=CallbackEvent.Status.PENDING).update(error=NOT_QUEUED)


def callback_events_requeue(
    *, process_later: Callable[[int], None], older_than: dt.timedelta | None = None, limit: int = 5000
) -> int:
    """Queue again the oldest pending events that are known not to be queued (the broker was down when they were
    stored) or still pending after `older_than` (settings.WECOM_CALLBACK_REQUEUE_AFTER: the web process died before
    queueing, or the task gave up retrying). Processing is guarded by the row lock and the status, so an event
    queued twice is handled once. Returns how many were queued."""
    if older_than is None:
        older_than = dt.timedelta(seconds=settings.WECOM_CALLBACK_REQUEUE_AFTER)
    due = Q(error=NOT_QUEUED) | Q(received_at__lt=timezone.now() - older_than)
    ids = list(
        CallbackEvent.objects.filter(due, status=CallbackEvent.Status.PENDING)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    # Cleared before queueing: a publish that fails again notes the event again (callback_event_not_queued).
    CallbackEvent.objects.filter(pk__in=ids, error=NOT_QUEUED).update(error="")
    for event_id in ids:
        process_later(event_id)
    if ids:
        logger.warning("Queued %s pending WeCom callback events again", len(ids))
    return len(ids)


def callback_event_process(*, event_id: int) -> CallbackEvent | None:
    """Run the event's handler exactly once.

    The row lock and the status guard make a redelivered task a no-op. A transient WeCom error rolls
    everything back and propagates, so the task retries later; any other WeCom error marks the event
    failed (visible in admin) without retrying.
    """
    with transaction.atomic():
        event = CallbackEvent.objects.select_for_update(no_key=True).filter(pk=event_id).first()
        if event is None:
            logger.warning("WeCom callback event %s no longer exists; nothing to do", event_id)
            return None
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
            event.status, event.error = CallbackEvent.Status.DONE, ""
        event.attempts += 1
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "attempts", "processed_at"])
    return event


def callback_events_retry(*, event_ids: Iterable[int], process_later: Callable[[int], None]) -> int:
    """An operator processes failed events again: each one still failed goes back to pending (its error cleared, its
    attempts kept) and is queued by `process_later(event_id)` after commit. Events not failed are left as they are.
    Returns how many were queued."""
    queued = 0
    with transaction.atomic():
        for event_id in sorted(set(event_ids)):
            failed = CallbackEvent.objects.filter(pk=event_id, status=CallbackEvent.Status.FAILED)
            if failed.update(status=CallbackEvent.Status.PENDING, error=""):
                transaction.on_commit(functools.partial(process_later, event_id))
                queued += 1
    if queued:
        logger.warning("%s failed WeCom callback events queued again by an operator", queued)
    return queued
