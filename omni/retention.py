"""Retention: the rows `manage.py prune` (and the daily beat task `omni.tasks.prune_task`) deletes once past their
period, kind by kind. Each app registers what it owns from its `AppConfig.ready()` with `@retention_rule(name, ...)`,
as `omni.integrity` registers checks; this module imports no app.

A rule is given the moment its period ends (`cutoff`) and whether to change anything; it answers how many rows it
deleted (or, on a dry run, would delete). Rules delete with `batched_delete`: by primary key, a batch per
transaction, so no statement holds a big table for long and a run stopped half-way leaves whole batches done. The
periods are settings (OMNI_RETENTION_DAYS, from the environment), read at each run; None keeps a kind for ever.
Every run reports each kind, even at zero: nothing is deleted silently.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000


@dataclass(frozen=True)
class PruneRule:
    name: str
    what: str  # the rows it deletes, in words: "callback events processed more than {days} days ago"
    days: Callable[[], int | None]  # the period in force, or None: kept
    prune: Callable[..., int]  # prune(*, cutoff, dry_run, batch_size) -> rows deleted (or that would be)


@dataclass(frozen=True)
class Pruned:
    name: str
    what: str
    days: int | None
    rows: int


_rules: dict[str, PruneRule] = {}


def retention_days(name: str) -> int | None:
    """The period of a kind in days, from settings.OMNI_RETENTION_DAYS."""
    return settings.OMNI_RETENTION_DAYS.get(name)


def retention_rule(name: str, *, what: str, days: Callable[[], int | None] | None = None):
    """Register `prune` under `name`; its period is OMNI_RETENTION_DAYS[name] unless `days` says otherwise."""

    def register(prune: Callable[..., int]) -> Callable[..., int]:
        _rules[name] = PruneRule(name=name, what=what, days=days or (lambda: retention_days(name)), prune=prune)
        return prune

    return register


def retention_rules() -> dict[str, PruneRule]:
    return dict(sorted(_rules.items()))


def batched_delete(queryset: QuerySet, *, dry_run: bool, batch_size: int = BATCH_SIZE) -> int:
    """Delete the queryset's rows a batch of primary keys at a time, each batch in its own transaction; on a dry run
    only count them."""
    if dry_run:
        return queryset.count()
    model, deleted = queryset.model, 0
    while True:
        with transaction.atomic():
            pks = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not pks:
                return deleted
            deleted += model._base_manager.filter(pk__in=pks).delete()[1].get(model._meta.label, 0)


def prune(*, dry_run: bool, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> list[Pruned]:
    """Run every rule whose period is set; one line per kind in the log as well as in the answer."""
    now = now or timezone.now()
    done = []
    for rule in retention_rules().values():
        days = rule.days()
        rows = 0
        if days is not None:
            rows = rule.prune(cutoff=now - dt.timedelta(days=days), dry_run=dry_run, batch_size=batch_size)
        done.append(Pruned(name=rule.name, what=rule.what.format(days=days), days=days, rows=rows))
        logger.info(
            "retention %s: %s %d rows (%s)",
            rule.name,
            "would delete" if dry_run else "deleted",
            rows,
            "kept for ever" if days is None else rule.what.format(days=days),
        )
    return done


# Django's own ---------------------------------------------------------------------------------------------------


@retention_rule("sessions", what="sessions past their expiry (Django's clearsessions, in batches)", days=lambda: 0)
def sessions_prune(*, cutoff: dt.datetime, dry_run: bool, batch_size: int) -> int:
    from django.contrib.sessions.models import Session  # a model: not imported while apps load

    return batched_delete(Session.objects.filter(expire_date__lt=cutoff), dry_run=dry_run, batch_size=batch_size)
