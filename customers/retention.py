"""The audit log's retention (omni.retention): kept OMNI_AUDIT_RETENTION_DAYS (three years by default), then deleted
by `manage.py prune`, which reports how many it deleted like every other kind."""

import datetime as dt

from customers.models import AuditLog
from omni.retention import batched_delete, retention_rule


@retention_rule("audit_log", what="audit log entries older than {days} days")
def audit_log_prune(*, cutoff: dt.datetime, dry_run: bool, batch_size: int) -> int:
    return batched_delete(AuditLog.objects.filter(at__lt=cutoff), dry_run=dry_run, batch_size=batch_size)
