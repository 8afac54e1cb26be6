"""Full syncs from WeCom, one page at a time: the driver. What a page of each kind reads and writes belongs to the app
that keeps that data, which registers it from its `AppConfig.ready()` with `@sync_pages(kind)` (corp tags: the client
book; group chats: communities) or, for a sync that fans out per member, `sync_fan_out(kind, …)` (contacts: the client
book), as callback handlers register with `wecom.events.handles`.

Each sync is a SyncRun advanced one page at a time (`sync_page`); a page's writes and the cursor that follows it commit
together, so a run that dies resumes at the page it was on and re-applying a page changes nothing. Every call goes
through the WeCom client, which keeps under the per-API rate limits (per minute and per hour, counted in the cache
across all workers).

A fanned-out sync has one SyncPart per member (its keys: WeCom userids), each advanced page by page by its own bulk
task with the same rule (the part's cursor commits with its page). `sync_parts_queue` keeps at most a window of parts
queued or running, tops the window up as parts finish, requeues parts whose task vanished (a node lost: no page
committed for PART_STALE_SECONDS), and settles the run when every part is done or failed.
"""

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from omni.errors import ApplicationError
from wecom.client import WeComClient, WeComError, wecom_client
from wecom.models import SyncPart, SyncRun

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


@dataclass(frozen=True)
class FanOut:
    """A sync done member by member. `keys`: the members (WeCom userids) to sync. `page(client, part)`: sync the
    part's next page from `part.cursor`, inside the caller's transaction → (the cursor after it, items written, whether
    the part is done). `finish(part)`: once its last page is written, in the same transaction, settle what WeCom no
    longer lists for the member → how many."""

    keys: Callable[[WeComClient], list[str]]
    page: Callable[[WeComClient, SyncPart], tuple[str, int, int, bool]]
    finish: Callable[[SyncPart], int]


_fan_outs: dict[str, FanOut] = {}
# No page committed for this long: the part's task is gone (its node died), so the part is queued again. Longer than
# the part task's hard time limit (omni.celery.TASKS), so a live task is never doubled.
PART_STALE_SECONDS = 600
_OPEN = (SyncPart.Status.PENDING, SyncPart.Status.QUEUED, SyncPart.Status.RUNNING)


def sync_fan_out(kind: str, fan_out: FanOut) -> None:
    """Register `kind` (one of SyncRun.Kind) as a sync that fans out per member."""
    if kind not in SyncRun.Kind.values:
        raise ValueError(f"unknown WeCom sync {kind!r}")
    _fan_outs[kind] = fan_out


def sync_fans_out(kind: str) -> bool:
    return kind in _fan_outs


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
    """Sync one page of the run; True while there is more to do. A fanned-out run here goes member after member in
    this process (`manage.py wecom_sync --inline`); workers run its parts side by side (`sync_parts_queue`)."""
    client = wecom_client()
    with transaction.atomic():
        run = SyncRun.objects.select_for_update(no_key=True).get(pk=run_id)
        if run.status != SyncRun.Status.RUNNING:
            return False
        if run.kind in _fan_outs:
            _parts_plan(run, client)
            part = run.parts.filter(status__in=_OPEN).order_by("pk").first()
            if part is None:
                _run_settle(run)
                return False
    if run.kind in _fan_outs:
        sync_part_page(part_id=part.pk, client=client)
        return True
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


def _parts_plan(run: SyncRun, client: WeComClient) -> None:
    """The run's parts, made once (the run's row is locked by the caller)."""
    if run.state.get("planned"):
        return
    keys = list(dict.fromkeys(_fan_outs[run.kind].keys(client)))
    SyncPart.objects.bulk_create([SyncPart(run=run, key=key) for key in keys], ignore_conflicts=True)
    run.state = {"planned": True, "parts": len(keys)}
    run.save(update_fields=["state", "updated_at"])


def _run_settle(run: SyncRun) -> None:
    """Every part is done or failed (the run's row is locked by the caller): the run's totals, and its end."""
    totals = run.parts.aggregate(
        pages=Sum("pages"), items=Sum("items"), failed=Count("pk", filter=Q(status=SyncPart.Status.FAILED))
    )
    run.pages, run.items = totals["pages"] or 0, totals["items"] or 0
    run.finished_at = timezone.now()
    if totals["failed"]:
        run.status, run.error = SyncRun.Status.FAILED, f"{totals['failed']} 个成员同步失败（见各成员的错误）"
    else:
        run.status = SyncRun.Status.DONE
    run.save()
    logger.info(
        "WeCom %s sync #%s: %s in %s parts, %s items", run.kind, run.pk, run.status, run.parts.count(), run.items
    )


def sync_parts_queue(*, run_id: int, queue: Callable[[int], None], window: int) -> int:
    """Plan a fanned-out run's parts if not done yet, then fill its window: queue (`queue(part_id)`, after commit)
    pending parts until `window` are queued or running, and again those whose task vanished. Settles the run when
    no part is left. Returns how many parts were queued; 0 when the run is not running (or is not fanned out)."""
    client = wecom_client()
    with transaction.atomic():
        run = SyncRun.objects.select_for_update(no_key=True).get(pk=run_id)
        if run.status != SyncRun.Status.RUNNING or run.kind not in _fan_outs:
            return 0
        _parts_plan(run, client)
        now = timezone.now()
        stale = now - timedelta(seconds=PART_STALE_SECONDS)
        busy = run.parts.filter(status__in=(SyncPart.Status.QUEUED, SyncPart.Status.RUNNING))
        lost = list(busy.filter(updated_at__lt=stale).values_list("pk", flat=True))
        room = max(window - busy.filter(updated_at__gte=stale).count() - len(lost), 0)
        fresh = list(
            run.parts.filter(status=SyncPart.Status.PENDING).order_by("pk").values_list("pk", flat=True)[:room]
        )
        chosen = lost + fresh
        if chosen:
            SyncPart.objects.filter(pk__in=chosen).update(status=SyncPart.Status.QUEUED, updated_at=now)
            for part_id in chosen:
                transaction.on_commit(functools.partial(queue, part_id))
        elif not run.parts.filter(status__in=_OPEN).exists():
            _run_settle(run)
    if lost:
        logger.warning("WeCom %s sync #%s: %s parts lost their task, queued again", run.kind, run.pk, len(lost))
    return len(chosen)


def sync_part_page(*, part_id: int, client: WeComClient | None = None) -> bool:
    """Sync one page of a part; True while the part has more. The page's writes and the cursor after it commit
    together; a WeCom error that is not transient fails the part (the run goes on) and is not raised."""
    client = client or wecom_client()
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # The page and its cursor commit together or not at all, and redoing a page changes nothing: a
                # commit lost in a database crash only means that page is read again. So the commit need not wait
                # for the disk, which is most of what a page costs.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            # The part's row lock (not the run's: parts run side by side) makes a redelivered task and the one it
            # doubles take turns, page by page.
            part = SyncPart.objects.select_for_update(no_key=True, of=("self",)).select_related("run").get(pk=part_id)
            if part.status not in _OPEN or part.run.status != SyncRun.Status.RUNNING:
                return False
            fan_out = _fan_outs[part.run.kind]
            next_cursor, count, pages, done = fan_out.page(client, part)
            part.cursor, part.pages, part.items = next_cursor, part.pages + pages, part.items + count
            part.status, part.error = SyncPart.Status.RUNNING, ""
            part.started_at = part.started_at or timezone.now()
            if done:
                part.lost = fan_out.finish(part)
                part.status, part.finished_at, part.cursor = SyncPart.Status.DONE, timezone.now(), ""
            part.save()
    except WeComError as exc:
        if exc.transient:
            raise
        logger.warning("WeCom sync part %s failed: %s", part_id, exc)
        SyncPart.objects.filter(pk=part_id, status__in=_OPEN).update(
            status=SyncPart.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        return False
    return not done


def sync_runs_resume(*, run_ids: Iterable[int], queue: Callable[[int], None]) -> int:
    """An operator resumes failed syncs: each one still failed runs again from the page it failed on (its cursor is
    kept; a fanned-out run's failed members from theirs), queued by `queue(run_id)` after commit, unless another
    sync of its kind is running then (that one is left to finish). Returns how many were resumed."""
    resumed = 0
    for run_id in sorted(set(run_ids)):
        try:
            with transaction.atomic():
                failed = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.FAILED)
                if failed.update(status=SyncRun.Status.RUNNING, error="", finished_at=None):
                    # A fanned-out run's failed members are tried again; those done stay done.
                    SyncPart.objects.filter(run_id=run_id, status=SyncPart.Status.FAILED).update(
                        status=SyncPart.Status.PENDING, error="", finished_at=None
                    )
                    transaction.on_commit(functools.partial(queue, run_id))
                    resumed += 1
        except IntegrityError:  # one_running_sync_per_kind: a sync of this kind is running already
            logger.info("WeCom sync #%s not resumed: another sync of its kind is running", run_id)
    return resumed
