"""The audit log's retention (omni.retention): kept OMNI_AUDIT_RETENTION_DAYS (three years by default), then deleted
by `manage.py prune`, which reports how many it deleted like every other kind. On PostgreSQL the log is partitioned
by month (omni.partitions): a month wholly past the period is dropped at once, so an entry stays at most a month
longer than its period."""

import datetime as dt

from customers.models import AuditLog
from omni.partitions import MONTH, partitioned_table, partitions_prune
from omni.retention import retention_rule

partitioned_table(AuditLog._meta.db_table, column="at", interval=MONTH, ahead=3)


@retention_rule("audit_log", what="audit log entries older than {days} days")
def audit_log_prune(*, cutoff: dt.datetime, dry_run: bool, batch_size: int) -> int:
    expired = AuditLog.objects.filter(at__lt=cutoff)
    return partitions_prune(
        table=AuditLog._meta.db_table, expired=expired, cutoff=cutoff, dry_run=dry_run, batch_size=batch_size
    )
