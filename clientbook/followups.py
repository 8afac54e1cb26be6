"""Acting on follow-up tasks from the associate's task page: which tasks a viewer may act on (her own; a store
manager: her store's), done, snooze to a date, reassign within the store, and the close-by-send rule: a send from the
sidebar of a kind (coupon pack, product, any message) to a customer closes that associate's open tasks for the customer
whose action matches, recording who closed it and how."""

from datetime import date

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from associates.models import Associate
from clientbook.models import FollowRelation, FollowUpTask
from omni.errors import ApplicationError

SNOOZE_MAX_DAYS = 90


def follow_up_tasks_actionable(*, viewer: Associate) -> QuerySet[FollowUpTask]:
    """The tasks `viewer` may open and act on: her own, and for a store manager every task of her store."""
    tasks = FollowUpTask.objects.select_related("customer", "associate", "closed_by")
    if viewer.is_store_manager:
        return tasks.filter(associate__store_id=viewer.store_id)
    return tasks.filter(associate=viewer)


def follow_up_task_get(*, viewer: Associate, task_id: int) -> FollowUpTask:
    task = follow_up_tasks_actionable(viewer=viewer).filter(pk=task_id).first()
    if task is None:
        raise ApplicationError("task_not_found", "没有这个任务。", status_code=404)
    return task


def _open_task_locked(*, viewer: Associate, task_id: int) -> FollowUpTask:
    task = follow_up_task_get(viewer=viewer, task_id=task_id)
    task = FollowUpTask.objects.select_for_update().get(pk=task.pk)
    if task.done_at is not None:
        raise ApplicationError("task_closed", "任务已完成。", status_code=409)
    return task


def follow_up_task_done(*, viewer: Associate, task_id: int) -> FollowUpTask:
    """Mark done by hand; done again changes nothing."""
    task = follow_up_task_get(viewer=viewer, task_id=task_id)
    FollowUpTask.objects.filter(pk=task.pk, done_at__isnull=True).update(
        done_at=timezone.now(), closed_by=viewer, closed_note="手动标记完成"
    )
    return follow_up_task_get(viewer=viewer, task_id=task_id)


def follow_up_task_snooze(*, viewer: Associate, task_id: int, until: date) -> FollowUpTask:
    today = timezone.localdate()
    with transaction.atomic():
        task = _open_task_locked(viewer=viewer, task_id=task_id)
        if until <= today or (until - today).days > SNOOZE_MAX_DAYS:
            raise ApplicationError("invalid_snooze_date", f"推迟到的日期须在明天到 {SNOOZE_MAX_DAYS} 天内。")
        FollowUpTask.objects.filter(pk=task.pk).update(due_on=until)
    return follow_up_task_get(viewer=viewer, task_id=task_id)


def follow_up_task_reassign(*, viewer: Associate, task_id: int, to_associate_id: int) -> FollowUpTask:
    """Hand the task to an active associate of the task's store (the store rule managers follow in admin). The
    viewer may no longer see it afterwards unless she manages the store."""
    with transaction.atomic():
        task = _open_task_locked(viewer=viewer, task_id=task_id)
        target = Associate.objects.filter(pk=to_associate_id, is_active=True).first()
        if target is None or target.store_id != task.associate.store_id:
            raise ApplicationError("invalid_assignee", "只能转给本门店在职的导购。")
        if target.pk == task.associate_id:
            return task
        if (
            FollowUpTask.objects.filter(associate=target, customer_id=task.customer_id, occasion=task.occasion)
            .exclude(occasion="")
            .exists()
        ):
            raise ApplicationError("task_exists", "对方已有同一场景的任务。", status_code=409)
        FollowUpTask.objects.filter(pk=task.pk).update(associate=target)
        task.refresh_from_db()
    return task


def follow_up_tasks_close_by_send(*, associate: Associate, customer_id: int, action: str, note: str) -> list[int]:
    """Close `associate`'s open tasks for the customer that this send does: those whose action is `action`, and
    any_message ones. Returns the closed tasks' ids (none when nothing matched)."""
    actions = {action, FollowUpTask.Action.ANY_MESSAGE}
    with transaction.atomic():
        ids = list(
            FollowUpTask.objects.select_for_update()
            .filter(associate=associate, customer_id=customer_id, done_at__isnull=True, action__in=actions)
            .values_list("pk", flat=True)
        )
        if ids:
            FollowUpTask.objects.filter(Q(pk__in=ids), done_at__isnull=True).update(
                done_at=timezone.now(), closed_by=associate, closed_note=note[:200]
            )
    return ids


def follow_up_tasks_today(*, associate: Associate, on: date) -> QuerySet[FollowUpTask]:
    """The associate's open tasks due on or before `on` (overdue ones too), soonest first."""
    return (
        FollowUpTask.objects.filter(associate=associate, done_at__isnull=True, due_on__lte=on)
        .select_related("customer")
        .order_by("due_on", "pk")
    )


def follow_up_task_external_userid(*, task: FollowUpTask) -> str:
    """The customer's WeCom id with the task's associate (to open their chat), "" when they are no longer friends."""
    follows = FollowRelation.objects.filter(associate_id=task.associate_id, customer_id=task.customer_id)
    return follows.filter(ended_at__isnull=True).values_list("external_userid", flat=True).first() or ""
