"""`notice_send`, what other apps call to tell an associate something: the notice is created (deduplicated, quiet
hours, daily cap: `services.notice_create`) and, when due now, queued for delivery after commit. Deferred ones are
sent by the minute's sweep (`tasks.notices_due_send_task`)."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from associates.models import Associate
from notices.models import Notice
from notices.services import notice_create
from notices.tasks import notice_deliver_task


def notice_send(
    *,
    associate: Associate,
    kind: str,
    dedupe_key: str,
    title: str,
    description: str = "",
    url: str = "/workbench/",
    at: datetime | None = None,
) -> Notice:
    notice, created = notice_create(
        associate=associate, kind=kind, dedupe_key=dedupe_key, title=title, description=description, url=url, at=at
    )
    if created and notice.status == Notice.Status.PENDING and notice.send_after <= (at or timezone.now()):
        transaction.on_commit(lambda: notice_deliver_task.delay(notice_id=notice.pk))
    return notice
