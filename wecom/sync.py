"""Full syncs from WeCom, one page at a time: the driver. What a page of each kind reads and writes belongs to the app
that keeps that data, which registers it from its `AppConfig.ready()` with `@sync_pages(kind)` (contacts and corp tags:
the client book; group chats: communities), as callback handlers register with `wecom.events.handles`.

Each sync is a SyncRun advanced one page at a time (`sync_page`); a page's writes and the cursor that follows it commit
together, so a run that dies resumes at the page it was on and re-applying a page changes nothing. Every call goes
through the WeCom client, which keeps under the per-API rate limit.
"""

import functools
import logging
from collections.abc import Callable, Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from omni.errors import ApplicationError
from wecom.client import WeComClient, wecom_client
from wecom.models import SyncRun

logger = logging.getLogger(__name__)

# A page: (client, the run's state) → (the state after this page, items written, whether the run is done).
PageSync = Callable[[WeComClient, dict], tuple[dict, int, bool]]

_pages: dict[str, PageSync] = {}


def sync_pages(kind: str) -> Callable[[PageSync], PageSync]:
    """Register the function that syncs one page of `kind` (one of SyncRun.Kind)."""
    if kind not in SyncRun.Kind.values:
        raise ValueError(f"unknown WeCom sync {kind!r}")

    def register(page: PageSync) -> PageSync:
        _pages[kind] = page
        return page

    return register


def sync_start(*, kind: str) -> SyncRun:
    """Start a sync of `kind`, or return the one already running (which then resumes)."""
    if kind not in SyncRun.Kind.values:
        raise ApplicationError("unknown_sync", f"Unknown sync {kind!r}.")
    with transaction.atomic():
        running = (
            SyncRun.objects.select_for_update(no_key=True).filter(kind=kind, status=SyncRun.Status.RUNNING).first()
        )
        return running or SyncRun.objects.create(kind=kind)


def sync_page(*, run_id: int) -> bool:
    """Sync one page of the run; True while there is more to do."""
    client = wecom_client()
    with transaction.atomic():
        run = SyncRun.objects.select_for_update(no_key=True).get(pk=run_id)
        if run.status != SyncRun.Status.RUNNING:
            return False
        state, count, done = _pages[run.kind](client, dict(run.state))
        run.state, run.pages, run.items = state, run.pages + 1, run.items + count
        if done:
            run.status, run.finished_at = SyncRun.Status.DONE, timezone.now()
        run.save()
    logger.info(
        "WeCom %s sync #%s: page %s, %s items%s", run.kind, run.pk, run.pages, run.items, " — done" if done else ""
    )
    return not done


def sync_runs_resume(*, run_ids: Iterable[int], queue: Callable[[int], None]) -> int:
    """An operator resumes failed syncs: each one still failed runs again from the page it failed on (its cursor is
    kept), queued by `queue(run_id)` after commit, unless another sync of its kind is running then (that one is
    left to finish). Returns how many were resumed."""
    resumed = 0
    for run_id in sorted(set(run_ids)):
        try:
            with transaction.atomic():
                failed = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.FAILED)
                if failed.update(status=SyncRun.Status.RUNNING, error="", finished_at=None):
                    transaction.on_commit(functools.partial(queue, run_id))
                    resumed += 1
        except IntegrityError:  # one_running_sync_per_kind: a sync of this kind is running already
            logger.info("WeCom sync #%s not resumed: another sync of its kind is running", run_id)
    return resumed
