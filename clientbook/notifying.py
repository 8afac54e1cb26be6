"""What the client book tells associates (`notices.notify.notice_send`): a new customer added me (with the link to
their page), a customer deleted me (and, to the store manager, a customer lost either way, with their value), the
morning digest of today's and overdue tasks (the journeys' tasks among them), and the afternoon's reminder of the
tasks due today still open.
Each notice's dedupe key names the event, so a re-delivered callback or a second run of the morning job tells nothing
twice."""

from datetime import date

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from associates.models import Associate
from clientbook.churn import customer_spend
from clientbook.followups import follow_up_tasks_today
from clientbook.models import FollowRelation, FollowUpTask
from notices.models import Notice
from notices.notify import notice_send

DIGEST_LINES = 5


def _customer_name(follow: FollowRelation) -> str:
    return follow.remark or follow.customer.name or "客户"


def notify_follow_added(*, follow: FollowRelation) -> Notice:
    name = _customer_name(follow)
    return notice_send(
        associate=follow.associate,
        kind=Notice.Kind.NEW_CUSTOMER,
        dedupe_key=f"new_customer:{follow.pk}:{int(follow.followed_at.timestamp())}",
        title=f"新客户添加了你：{name}",
        description=f"{name} 刚刚添加你为企业微信好友。点开查看客户资料，打个招呼吧。",
        url=reverse("workbench-customer", args=[follow.customer_id]),
    )


def notify_follow_deleted(*, follow: FollowRelation) -> Notice:
    name = _customer_name(follow)
    return notice_send(
        associate=follow.associate,
        kind=Notice.Kind.CUSTOMER_LEFT,
        dedupe_key=f"customer_left:{follow.pk}:{int(follow.ended_at.timestamp()) if follow.ended_at else 0}",
        title=f"客户删除了你：{name}",
        description=f"{name} 已将你从好友中删除，TA 的资料仍在客户档案里。",
        url=reverse("workbench-customer", args=[follow.customer_id]),
    )


def notify_follow_lost_to_managers(*, follow: FollowRelation) -> list[Notice]:
    """A friendship lost (the customer deleted the associate, or the associate deleted the customer): the store's
    managers are told too, with the customer's value, so a loss worth a call is seen. The associate herself is
    told by `notify_follow_deleted` (when the customer left) and never twice if she is the manager."""
    associate = follow.associate
    managers = Associate.objects.filter(
        store_id=associate.store_id, role=Associate.Role.STORE_MANAGER, is_active=True
    ).exclude(pk=associate.pk)
    name = _customer_name(follow)
    spend = customer_spend(customer_id=follow.customer_id)
    if follow.ended_reason == FollowRelation.Ended.CUSTOMER:
        title = f"客户流失：{name} 删除了导购 {associate.name}"
    else:
        title = f"客户流失：导购 {associate.name} 删除了客户 {name}"
    ended = int(follow.ended_at.timestamp()) if follow.ended_at else 0
    return [
        notice_send(
            associate=manager,
            kind=Notice.Kind.CUSTOMER_LEFT,
            dedupe_key=f"customer_lost:{follow.pk}:{ended}:{manager.pk}",
            title=title,
            description=f"{name} 累计消费 ¥{spend:.2f}。可在后台「流失客户」查看本店的流失名单。",
            url=reverse("workbench-customer", args=[follow.customer_id]),
        )
        for manager in managers
    ]


def notify_digest(*, associate: Associate, on: date) -> Notice | None:
    """The morning digest of today's (and overdue) tasks; None when there is nothing to do (and nothing folded)."""
    tasks = list(follow_up_tasks_today(associate=associate, on=on)[: DIGEST_LINES + 1])
    folded = Notice.objects.filter(associate=associate, status=Notice.Status.FOLDED, folded_into__isnull=True)
    if not tasks and not folded.exists():
        return None
    total = follow_up_tasks_today(associate=associate, on=on).count()
    lines = [f"· {t.customer.name or '客户'}：{t.title}" for t in tasks[:DIGEST_LINES]]
    if total > DIGEST_LINES:
        lines.append(f"…还有 {total - DIGEST_LINES} 项")
    return notice_send(
        associate=associate,
        kind=Notice.Kind.DIGEST,
        dedupe_key=f"digest:{associate.pk}:{on.isoformat()}",
        title=f"今日任务 {total} 项" if total else "今日提醒",
        description="\n".join(lines) or "今天没有到期的任务。",
        url=reverse("workbench-tasks"),
    )


def notices_digest_all(*, on: date | None = None) -> int:
    """Every active associate's digest for `on` (today, local); returns how many were made or found."""
    on = on or timezone.localdate()
    with_tasks = FollowUpTask.objects.filter(done_at__isnull=True, due_on__lte=on).values("associate_id")
    with_folded = Notice.objects.filter(status=Notice.Status.FOLDED, folded_into__isnull=True).values("associate_id")
    associates = Associate.objects.filter(is_active=True).filter(Q(pk__in=with_tasks) | Q(pk__in=with_folded))
    return sum(1 for associate in associates.iterator() if notify_digest(associate=associate, on=on) is not None)


def notify_tasks_due(*, associate: Associate, on: date) -> Notice | None:
    """The afternoon's reminder of the tasks due on `on` still open (a journey's birthday or follow-up among them);
    None when every one is done or snoozed past today. Overdue tasks were in the morning digest: not told again."""
    due = FollowUpTask.objects.filter(associate=associate, done_at__isnull=True, due_on=on).select_related("customer")
    tasks = list(due.order_by("pk")[: DIGEST_LINES + 1])
    if not tasks:
        return None
    total = due.count()
    lines = [f"· {t.customer.name or '客户'}：{t.title}" for t in tasks[:DIGEST_LINES]]
    if total > DIGEST_LINES:
        lines.append(f"…还有 {total - DIGEST_LINES} 项")
    return notice_send(
        associate=associate,
        kind=Notice.Kind.TASK_DUE,
        dedupe_key=f"task_due:{associate.pk}:{on.isoformat()}",
        title=f"今天到期的任务还有 {total} 项",
        description="\n".join(lines),
        url=reverse("workbench-tasks"),
    )


def notices_tasks_due_all(*, on: date | None = None) -> int:
    """Every active associate's reminder of today's open tasks (today, local); returns how many were made or found."""
    on = on or timezone.localdate()
    with_due = FollowUpTask.objects.filter(done_at__isnull=True, due_on=on).values("associate_id")
    associates = Associate.objects.filter(is_active=True, pk__in=with_due)
    return sum(1 for associate in associates.iterator() if notify_tasks_due(associate=associate, on=on) is not None)
