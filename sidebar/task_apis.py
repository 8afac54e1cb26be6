"""The task page's API, under /api/v1/sidebar/tasks/<id>/: read one task, snooze it to a date, reassign it to an
associate of the same store. Who may act: the task's associate, or her store's manager (`follow_up_tasks_actionable`);
any other task answers 404 task_not_found, as one that does not exist."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clientbook.followups import (
    follow_up_task_external_userid,
    follow_up_task_get,
    follow_up_task_reassign,
    follow_up_task_snooze,
)
from clientbook.models import FollowUpTask
from omni.openapi import error_responses
from sidebar.base import SidebarApi, moment_json


class TaskDetailOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    due_on = serializers.DateField()
    action = serializers.CharField()
    done = serializers.BooleanField()
    done_at = serializers.CharField(allow_null=True)
    closed_by = serializers.CharField(allow_null=True)
    closed_note = serializers.CharField()
    associate_id = serializers.IntegerField()
    associate = serializers.CharField()
    customer_id = serializers.IntegerField()
    customer = serializers.CharField()
    external_userid = serializers.CharField(
        allow_blank=True, help_text="The customer's WeCom id with the task's associate (for openEnterpriseChat)"
    )


def task_detail_json(task: FollowUpTask) -> dict:
    return {
        "id": task.pk,
        "title": task.title,
        "due_on": task.due_on,
        "action": task.action,
        "done": task.done_at is not None,
        "done_at": moment_json(task.done_at),
        "closed_by": task.closed_by.name if task.closed_by else None,
        "closed_note": task.closed_note,
        "associate_id": task.associate_id,
        "associate": task.associate.name,
        "customer_id": task.customer_id,
        "customer": task.customer.name or "客户",
        "external_userid": follow_up_task_external_userid(task=task),
    }


class SidebarTaskApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_task_get", responses={200: TaskDetailOut, **error_responses(404)}, tags=["sidebar"]
    )
    def get(self, request, task_id: int):
        return Response(task_detail_json(follow_up_task_get(viewer=request.user, task_id=task_id)))


class SnoozeIn(serializers.Serializer):
    until = serializers.DateField()


class SidebarTaskSnoozeApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_task_snooze",
        request=SnoozeIn,
        responses={200: TaskDetailOut, **error_responses(404, 409)},
        tags=["sidebar"],
        description="Move an open task's due date to `until` (tomorrow up to 90 days ahead).",
    )
    def post(self, request, task_id: int):
        data = SnoozeIn(data=request.data)
        data.is_valid(raise_exception=True)
        task = follow_up_task_snooze(viewer=request.user, task_id=task_id, until=data.validated_data["until"])
        return Response(task_detail_json(task))


class ReassignIn(serializers.Serializer):
    associate_id = serializers.IntegerField()


class SidebarTaskReassignApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_task_reassign",
        request=ReassignIn,
        responses={200: TaskDetailOut, **error_responses(404, 409)},
        tags=["sidebar"],
        description="Hand an open task to an active associate of the task's store.",
    )
    def post(self, request, task_id: int):
        data = ReassignIn(data=request.data)
        data.is_valid(raise_exception=True)
        task = follow_up_task_reassign(
            viewer=request.user, task_id=task_id, to_associate_id=data.validated_data["associate_id"]
        )
        return Response(task_detail_json(task))
