"""Admin for what WeCom sent and what Omni fetched: callback events and full syncs (a contacts sync's progress member
by member), read-only, with filters, and one action each for the operator — process failed events again, resume
failed syncs. Brand-wide rows (no store): shown to whoever holds the model's permission (superusers; HQ accounts are
not given it in the demo).

And the page 企业微信接入检查 (`wecom_check_view`, /admin/wecom/check/, routed in omni/urls.py): the checks of
`manage.py wecom_check`, run when the page is opened, one line each. Superusers only: it shows how the corp's WeCom is
set up and makes calls with the app's secret.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, Sum
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from omni.admin import ReadOnlyAdmin
from wecom.checks import FAIL, OK, wecom_checks_run
from wecom.models import CallbackEvent, SyncPart, SyncRun
from wecom.services import callback_events_retry
from wecom.sync import sync_runs_resume
from wecom.tasks import callback_event_queue, wecom_sync_task


@admin.register(CallbackEvent)
class CallbackEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event", "change_type", "status", "attempts", "processed_at"]
    list_filter = ["status", "event", "change_type", "received_at"]
    search_fields = ["=dedupe_key", "error"]
    date_hierarchy = "received_at"
    actions = ["process_again"]

    def has_process_permission(self, request) -> bool:
        return request.user.has_perm("wecom.change_callbackevent")

    @admin.action(description="重新处理所选的失败事件", permissions=["process"])
    def process_again(self, request, queryset):
        queued = callback_events_retry(
            event_ids=list(queryset.values_list("pk", flat=True)), process_later=callback_event_queue
        )
        self.message_user(request, f"已重新排队处理 {queued} 个失败事件（其他状态的事件不变）。")


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "kind", "status", "members", "pages", "items", "updated_at", "finished_at"]
    list_filter = ["status", "kind"]
    readonly_fields = ["members"]
    actions = ["resume"]

    def get_queryset(self, request):
        part = SyncPart.Status
        return (
            super()
            .get_queryset(request)
            .annotate(
                parts_total=Count("parts"),
                parts_done=Count("parts", filter=Q(parts__status=part.DONE)),
                parts_running=Count("parts", filter=Q(parts__status__in=[part.QUEUED, part.RUNNING])),
                parts_failed=Count("parts", filter=Q(parts__status=part.FAILED)),
                parts_pages=Sum("parts__pages"),
                parts_items=Sum("parts__items"),
            )
        )

    @admin.display(description="成员进度（完成 / 进行中 / 失败 / 共计）")
    def members(self, run: SyncRun) -> str:
        """A fanned-out run's members at a glance, linking to their list; its pages and items so far."""
        if not run.parts_total:
            return "—"
        url = reverse("admin:wecom_syncpart_changelist") + f"?run__id__exact={run.pk}"
        return format_html(
            '<a href="{}">{} / {} / {} / {}</a>（{} 页，{} 条）',
            url,
            run.parts_done,
            run.parts_running,
            run.parts_failed,
            run.parts_total,
            run.parts_pages or 0,
            run.parts_items or 0,
        )

    def has_resume_permission(self, request) -> bool:
        return request.user.has_perm("wecom.change_syncrun")

    @admin.action(description="从失败处继续所选的同步", permissions=["resume"])
    def resume(self, request, queryset):
        resumed = sync_runs_resume(run_ids=list(queryset.values_list("pk", flat=True)), queue=wecom_sync_task.delay)
        self.message_user(request, f"已继续 {resumed} 个失败的同步（同类同步正在进行的除外）。")


@admin.register(SyncPart)
class SyncPartAdmin(ReadOnlyAdmin):
    """Each member's share of a fanned-out sync: where its cursor is, what it wrote, why it failed."""

    list_display = ["key", "run", "status", "pages", "items", "lost", "updated_at", "finished_at"]
    list_filter = ["status", "run__kind"]
    search_fields = ["=key"]
    list_select_related = ["run"]
    show_full_result_count = False


def wecom_check_view(request: HttpRequest) -> TemplateResponse:
    if not request.user.is_superuser:
        raise PermissionDenied
    results = wecom_checks_run()
    failed = sum(result.status == FAIL for result in results)
    context = {
        **admin.site.each_context(request),
        "title": "企业微信接入检查",
        "results": results,
        "failed": failed,
        "warned": sum(result.status not in (OK, FAIL) for result in results),
    }
    return TemplateResponse(request, "admin/wecom/check.html", context)
