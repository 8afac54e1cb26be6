"""Native time partitions of the append-only logs (omni.partitions): the audit log by month, WeCom callback events by
day, on PostgreSQL. Rows land in their period's partition, partitions exist ahead, a later partition takes over the
rows the default one held, retention drops exactly the partitions wholly past their period (and only deletes rows
of one still holding a row to keep), a redelivered callback is stored once across midnight, and the ORM and admin
read the partitioned tables as before. On SQLite nothing is partitioned and the plain path runs (test_prune)."""

import datetime as dt
import time

import pytest
from django.db import connection
from django.utils import timezone

from customers.models import AuditLog
from omni.partitions import (
    DAY,
    MONTH,
    partitioned_tables,
    partitions,
    partitions_create,
    partitions_prune,
    table_partition,
    table_unpartition,
)
from omni.tasks import partitions_create_task
from tests.factories import UserFactory
from tests.test_wecom_callbacks import _event_xml, _post
from tests.test_wecom_callbacks import wecom as wecom  # the fixture, used by name
from wecom.models import CallbackEvent, CallbackEventKey

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

EVENTS, KEYS, AUDIT = CallbackEvent._meta.db_table, CallbackEventKey._meta.db_table, AuditLog._meta.db_table


def _midnight(days: int) -> dt.datetime:
    today = timezone.now().astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + dt.timedelta(days=days)


def _holder(table: str, pk, *, column: str = "id") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE {column} = %s", [pk])
        return cursor.fetchone()[0]


def _event(key: str, *, received_at: dt.datetime, status=CallbackEvent.Status.DONE, processed=True) -> CallbackEvent:
    event = CallbackEvent.objects.create(dedupe_key=key, event="change_external_contact", payload={}, status=status)
    CallbackEvent.objects.filter(pk=event.pk).update(
        received_at=received_at, processed_at=received_at + dt.timedelta(seconds=5) if processed else None
    )
    return CallbackEvent.objects.get(pk=event.pk)


def test_the_logs_are_registered_with_their_schemes():
    tables = partitioned_tables()

    assert (tables[AUDIT].column, tables[AUDIT].interval, tables[AUDIT].ahead) == ("at", MONTH, 3)
    assert (tables[EVENTS].column, tables[EVENTS].interval, tables[EVENTS].ahead) == ("received_at", DAY, 7)
    assert (tables[KEYS].column, tables[KEYS].interval, tables[KEYS].ahead) == ("event_time", DAY, 7)


def test_rows_land_in_their_periods_partition():
    entry = AuditLog.objects.create(action=AuditLog.Action.PROFILE_VIEW)
    event = _event("a" * 64, received_at=_midnight(3) + dt.timedelta(hours=5))

    assert _holder(AUDIT, entry.pk) == f"{AUDIT}_p{timezone.now().astimezone(dt.UTC):%Y%m}01"
    assert _holder(EVENTS, event.pk) == f"{EVENTS}_p{_midnight(3):%Y%m%d}"


def test_partitions_exist_ahead_and_a_second_run_creates_none():
    days = [p.start for p in partitions(EVENTS)]
    months = [p.start for p in partitions(AUDIT)]

    assert [_midnight(n) for n in range(8)] == [day for day in days if day >= _midnight(0)]
    this_month = _midnight(0).replace(day=1)
    assert months[-4] == this_month and len([m for m in months if m > this_month]) == 3
    assert partitions_create_task.delay().get() == []


def test_the_daily_task_creates_the_next_days_and_months():
    in_ten_days = timezone.now() + dt.timedelta(days=10)

    created = partitions_create(now=in_ten_days)

    assert [name for name in created if name.startswith(f"{EVENTS}_p")] == [
        f"{EVENTS}_p{_midnight(n):%Y%m%d}" for n in range(8, 18)
    ]
    assert [p.start for p in partitions(EVENTS)][-1] == _midnight(17)
    assert partitions_create(now=in_ten_days) == []


def test_a_new_partition_takes_over_the_rows_the_default_one_held():
    far = _midnight(30) + dt.timedelta(hours=1)
    event = _event("b" * 64, received_at=far)
    assert _holder(EVENTS, event.pk) == f"{EVENTS}_default"

    partitions_create(now=far)

    assert _holder(EVENTS, event.pk) == f"{EVENTS}_p{_midnight(30):%Y%m%d}"
    assert CallbackEvent.objects.get(pk=event.pk).dedupe_key == "b" * 64


def test_prune_drops_exactly_the_partitions_wholly_past_the_period():
    partitions_create(since=_midnight(-40))
    old = [_event(f"{n:064d}", received_at=_midnight(-40 + n) + dt.timedelta(hours=2)) for n in range(5)]  # -40…-36
    pending_old = _event(
        "p" * 64,
        received_at=_midnight(-38) + dt.timedelta(hours=3),
        processed=False,
        status=CallbackEvent.Status.PENDING,
    )
    recent = _event("r" * 64, received_at=_midnight(-29) + dt.timedelta(hours=1))
    cutoff = _midnight(-30) + dt.timedelta(hours=12)
    before = {p.name for p in partitions(EVENTS)}
    done = CallbackEvent.objects.filter(status=CallbackEvent.Status.DONE, processed_at__lt=cutoff)

    would = partitions_prune(table=EVENTS, expired=done, cutoff=cutoff, dry_run=True, batch_size=2)
    assert {p.name for p in partitions(EVENTS)} == before
    deleted = partitions_prune(table=EVENTS, expired=done, cutoff=cutoff, dry_run=False, batch_size=2)

    assert would == deleted == 5
    gone = before - {p.name for p in partitions(EVENTS)}
    # Every day from -40 to -31 ends before the cutoff, but the pending event's day (-38) stays.
    assert gone == {f"{EVENTS}_p{_midnight(n):%Y%m%d}" for n in range(-40, -30) if n != -38}
    assert set(CallbackEvent.objects.values_list("pk", flat=True)) == {pending_old.pk, recent.pk}
    assert _holder(EVENTS, pending_old.pk) == f"{EVENTS}_p{_midnight(-38):%Y%m%d}"
    assert not CallbackEvent.objects.filter(pk__in=[e.pk for e in old]).exists()


def test_prune_of_the_audit_log_drops_its_old_months_and_keeps_the_rest():
    months_ago = lambda n: (_midnight(0).replace(day=15) - dt.timedelta(days=30 * n)).replace(day=1)  # noqa: E731
    partitions_create(since=months_ago(5))
    entries = {}
    for n in range(6):
        entry = AuditLog.objects.create(action=AuditLog.Action.PROFILE_VIEW)
        AuditLog.objects.filter(pk=entry.pk).update(at=months_ago(n) + dt.timedelta(days=2))
        entries[n] = entry.pk
    cutoff = months_ago(2) + dt.timedelta(days=10)  # months 3, 4 and 5 ago end before it; 2 ago does not

    deleted = partitions_prune(
        table=AUDIT, expired=AuditLog.objects.filter(at__lt=cutoff), cutoff=cutoff, dry_run=False, batch_size=100
    )

    assert deleted == 3
    assert set(AuditLog.objects.values_list("pk", flat=True)) == {entries[0], entries[1], entries[2]}
    assert partitions(AUDIT)[0].start == months_ago(2)


def test_a_redelivered_event_is_stored_once_across_midnight(client, wecom, time_machine):
    created = int(time.time())
    plaintext, midnight = _event_xml(CreateTime=str(created)), _midnight(3)
    time_machine.move_to(midnight - dt.timedelta(seconds=1), tick=False)
    first = _post(client, wecom, plaintext)
    time_machine.move_to(midnight + dt.timedelta(seconds=1), tick=False)

    second = _post(client, wecom, plaintext)

    assert (first.status_code, second.status_code) == (200, 200)
    event = CallbackEvent.objects.get()
    assert _holder(EVENTS, event.pk) == f"{EVENTS}_p{midnight - dt.timedelta(days=1):%Y%m%d}"
    key = CallbackEventKey.objects.get()
    assert (key.dedupe_key, key.event_time) == (event.dedupe_key, dt.datetime.fromtimestamp(created, tz=dt.UTC))
    assert _holder(KEYS, key.dedupe_key, column="dedupe_key") == f"{KEYS}_p{key.event_time:%Y%m%d}"


def test_a_redelivery_a_week_later_is_still_stored_once(client, wecom, time_machine):
    plaintext = _event_xml(CreateTime=str(int(time.time())))
    first = _post(client, wecom, plaintext)
    time_machine.move_to(timezone.now() + dt.timedelta(days=7), tick=False)

    second = _post(client, wecom, plaintext)

    assert (first.status_code, second.status_code) == (200, 200)
    assert CallbackEvent.objects.count() == CallbackEventKey.objects.count() == 1


def test_the_orm_and_admin_read_the_partitioned_logs(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    admin_client = client
    pending = _event("c" * 64, received_at=_midnight(1), status=CallbackEvent.Status.PENDING, processed=False)
    done = _event("d" * 64, received_at=_midnight(0) + dt.timedelta(hours=1))
    AuditLog.objects.create(action=AuditLog.Action.PROFILE_VIEW, detail={"n": 1})

    events = admin_client.get("/admin/wecom/callbackevent/", {"status__exact": "pending"})
    found = admin_client.get("/admin/wecom/callbackevent/", {"q": "d" * 64})
    detail = admin_client.get(f"/admin/wecom/callbackevent/{done.pk}/change/")
    audit = admin_client.get("/admin/customers/auditlog/")

    assert (events.status_code, found.status_code, detail.status_code, audit.status_code) == (200, 200, 200, 200)
    assert list(events.context["cl"].result_list) == [pending]
    assert list(found.context["cl"].result_list) == [done]
    assert audit.context["cl"].result_count == 1
    assert CallbackEvent.objects.filter(pk=done.pk).update(attempts=2) == 1
    assert CallbackEvent.objects.order_by("-received_at").first() == pending


def _schema(table: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s)", [table]
        )
        constraints = dict(cursor.fetchall())
        cursor.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = to_regclass(%s)",
            [table],
        )
        indexes = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, 'id'), relkind FROM pg_class WHERE oid = to_regclass(%s)", [table, table]
        )
        sequence, kind = cursor.fetchone()
    return {"constraints": constraints, "indexes": indexes, "sequence": sequence, "partitioned": kind == "p"}


def test_the_migration_converts_a_table_with_its_rows_and_back():
    partitions_create(since=_midnight(-3))
    events = [_event(f"{n:064d}", received_at=_midnight(-n) + dt.timedelta(hours=1)) for n in range(3)]
    partitioned = _schema(EVENTS)

    with connection.schema_editor() as editor:
        table_unpartition(editor, table=EVENTS, unique_restored=("wecom_callbackevent_dedupe_key_key",))
    plain = _schema(EVENTS)
    after_plain = CallbackEvent.objects.create(dedupe_key="x" * 64, event="e", payload={})
    with connection.schema_editor() as editor:
        table_partition(
            editor,
            table=EVENTS,
            column="received_at",
            interval=DAY,
            ahead=7,
            back_days=60,
            unique_dropped=("wecom_callbackevent_dedupe_key_key",),
        )
    again = _schema(EVENTS)
    after_again = CallbackEvent.objects.create(dedupe_key="y" * 64, event="e", payload={})

    assert not plain["partitioned"] and again["partitioned"]
    assert plain["constraints"]["wecom_callbackevent_pkey"] == "PRIMARY KEY (id)"
    assert plain["constraints"]["wecom_callbackevent_dedupe_key_key"] == "UNIQUE (dedupe_key)"
    assert again["constraints"] == partitioned["constraints"]
    assert again["constraints"]["wecom_callbackevent_pkey"] == "PRIMARY KEY (id, received_at)"
    assert again["indexes"] == partitioned["indexes"] == plain["indexes"]
    assert again["sequence"] == plain["sequence"] == partitioned["sequence"] == "public.wecom_callbackevent_id_seq"
    assert after_again.pk == after_plain.pk + 1 > max(e.pk for e in events)
    assert [_holder(EVENTS, e.pk) for e in events] == [f"{EVENTS}_p{_midnight(-n):%Y%m%d}" for n in range(3)]
