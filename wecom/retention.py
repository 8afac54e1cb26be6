"""What WeCom's records leave behind (omni.retention): callback events processed long ago, finished full syncs.

A processed event is only a record once WeCom has stopped re-delivering it (seconds to minutes): its dedupe key is not
needed for long. A pending or failed event is kept, whatever its age, for the requeue and "process again".

On PostgreSQL the events are partitioned by day of receipt (omni.partitions): a day whose events were all processed
before the cutoff is dropped whole; a day still holding a pending or failed event loses only its processed ones.
The dedupe keys (CallbackEventKey, partitioned by the event's own time) go by whole days too.
"""

import datetime as dt

from django.db.models import Q

from omni.partitions import DAY, partitioned_table, partitions_prune
from omni.retention import batched_delete, retention_rule
from wecom.models import CallbackEvent, CallbackEventKey, SyncRun

partitioned_table(CallbackEvent._meta.db_table, column="received_at", interval=DAY, ahead=7)
partitioned_table(CallbackEventKey._meta.db_table, column="event_time", interval=DAY, ahead=7)


@retention_rule("callback_events", what="WeCom callback events processed more than {days} days ago")
def callback_events_prune(*, cutoff: dt.datetime, dry_run: bool, batch_size: int) -> int:
    done = CallbackEvent.objects.filter(status=CallbackEvent.Status.DONE, processed_at__lt=cutoff)
    table = CallbackEvent._meta.db_table
    rows = partitions_prune(table=table, expired=done, cutoff=cutoff, dry_run=dry_run, batch_size=batch_size)
    keys = CallbackEventKey.objects.filter(event_time__lt=cutoff)
    partitions_prune(
        table=CallbackEventKey._meta.db_table, expired=keys, cutoff=cutoff, dry_run=dry_run, batch_size=batch_size
    )
    return rows


@retention_rule("sync_runs", what="WeCom full syncs done or failed more than {days} days ago")
def sync_runs_prune(*, cutoff: dt.datetime, dry_run: bool, batch_size: int) -> int:
    finished = SyncRun.objects.filter(
        Q(status=SyncRun.Status.DONE, finished_at__lt=cutoff) | Q(status=SyncRun.Status.FAILED, updated_at__lt=cutoff)
    )
    return batched_delete(finished, dry_run=dry_run, batch_size=batch_size)
