"""The associate's task pages inside WeCom, opened from a notice or the morning digest (app messages): today's tasks
(/workbench/tasks/), one task (/workbench/tasks/<id>/: open the customer's chat, done, snooze, reassign) and a
customer's page (/workbench/customers/<id>/, the new-customer notice's link: their profile head, the chat, the tasks).
The actions are the task API's (sidebar.task_apis)."""

from django.conf import settings
from django.db.models import F
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from associates.auth import associate_required, embeddable
from associates.models import Associate
from clientbook.followups import follow_up_task_external_userid, follow_up_task_get, follow_up_tasks_actionable
from clientbook.models import FollowRelation
from clientbook.selectors import customers_visible
from omni.errors import ApplicationError


def _page(request: HttpRequest, template: str, context: dict):
    return render(request, template, {"jssdk_url": settings.WECOM_JSSDK_URL, "today": timezone.localdate(), **context})


@embeddable
@associate_required
def workbench_tasks(request: HttpRequest, *, associate: Associate):
    tasks = follow_up_tasks_actionable(viewer=associate).filter(done_at__isnull=True).order_by("due_on", "pk")
    return _page(request, "sidebar/tasks.html", {"associate": associate, "tasks": tasks[:100]})


@embeddable
@associate_required
def workbench_task(request: HttpRequest, task_id: int, *, associate: Associate):
    try:
        task = follow_up_task_get(viewer=associate, task_id=task_id)
    except ApplicationError:
        return render(request, "sidebar/task.html", {"missing": True}, status=404)
    colleagues = Associate.objects.filter(store_id=task.associate.store_id, is_active=True)
    context = {
        "associate": associate,
        "task": task,
        "colleagues": colleagues.exclude(pk=task.associate_id),
        "external_userid": follow_up_task_external_userid(task=task),
    }
    return _page(request, "sidebar/task.html", context)


@embeddable
@associate_required
def workbench_customer(request: HttpRequest, customer_id: int, *, associate: Associate):
    customer = get_object_or_404(customers_visible(viewer=associate), pk=customer_id)
    follows = FollowRelation.objects.filter(associate=associate, customer=customer)
    follow = follows.order_by(F("ended_at").asc(nulls_first=True), "-followed_at").first()
    tasks = follow_up_tasks_actionable(viewer=associate).filter(customer=customer, done_at__isnull=True)
    context = {"associate": associate, "customer": customer, "follow": follow, "tasks": tasks}
    return _page(request, "sidebar/customer.html", context)
