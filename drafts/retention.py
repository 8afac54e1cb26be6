"""How long the drafts shown in the sidebar are kept (OMNI_RETENTION_DAYS["drafts"], 180 days by default): long
enough to judge the configured model on its record, not a second copy of every chat."""

import datetime as dt

from drafts.models import Draft
from omni.retention import batched_delete, retention_rule


@retention_rule("drafts", what="drafts shown in the sidebar more than {days} days ago")
def drafts_prune(*, cutoff: dt.datetime, dry_run: bool, batch_size: int) -> int:
    return batched_delete(Draft.objects.filter(created_at__lt=cutoff), dry_run=dry_run, batch_size=batch_size)
