"""Admin for campaigns: create with an audience preview, submit, approve (never one's own), follow progress and
each associate's confirmation, read per-recipient results, export CSV, retry failed chunks, cancel.

Scoping: a store manager sees the campaigns whose audience stores are all theirs, and may pick only their stores.
Content and audience are editable only while a campaign is a draft; every status change goes through a service.
"""

import csv

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from associates.models import Store
from associates.scoping import StoreScopedAdmin, request_store_ids
from campaigns.models import Campaign, CampaignChunk, CampaignRecipient, JourneyConfig, LapsedCustomer
from campaigns.selectors import (
    campaign_audience_preview,
    campaign_progress,
    campaign_recipients_export_rows,
    campaigns_visible,
)
from campaigns.services import (
    campaign_approve,
    campaign_audience_count_queue,
    campaign_cancel,
    campaign_content_problems,
    campaign_failed_chunks_retry,
    campaign_reject,
    campaign_save,
    campaign_submit,
)
from campaigns.tasks import campaign_audience_count_task, campaign_chunk_send_task
from clientbook.churn import customers_lapsed
from communities.models import Community
from omni.admin import ReadOnlyAdmin
from omni.errors import ApplicationError
from omni.replicas import replica_reads, replica_reads_streamed

AUDIENCE_FIELDS = [
    "stores",
    "tags",
    "tiers",
    "segments",
    "last_purchase_after",
    "last_purchase_before",
    "bought_category",
    "holds_unused_coupon",
    "birthday_month",
    "community",
    "community_membership",
]
CONTENT_FIELDS = [
    "text",
    "coupon_pack",
    "product",
    "image_url",
    "miniprogram_title",
    "miniprogram_appid",
    "miniprogram_page",
    "miniprogram_pic_media_id",
]


class ChunkInline(admin.TabularInline):
    model = CampaignChunk
    verbose_name_plural = "导购确认情况（每个分片一条企业微信群发任务）"
    can_delete = False
    extra = 0
    max_num = 0
    fields = ["associate", "index", "size", "status", "msgid", "confirmed_at", "reminds", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(StoreScopedAdmin):
    list_display = ["name", "status", "send_at", "audience_size", "progress_bar", "created_by", "approved_by"]
    list_filter = ["status"]
    search_fields = ["name"]
    inlines = [ChunkInline]
    actions = ["submit", "approve", "reject", "cancel", "retry_failed"]
    readonly_fields = ["status", "audience_preview", "progress", "created_by", "approved_by", "results_link"]
    filter_horizontal = ["stores", "tags"]
    fieldsets = [
        (None, {"fields": ["name", "status", "send_at", "created_by", "approved_by"]}),
        ("受众", {"fields": [*AUDIENCE_FIELDS, "audience_preview"]}),
        ("内容", {"fields": CONTENT_FIELDS}),
        ("进度", {"fields": ["progress", "results_link"]}),
    ]

    def get_queryset(self, request):
        return campaigns_visible(
            store_ids=request_store_ids(request), queryset=admin.ModelAdmin.get_queryset(self, request)
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return [*self.readonly_fields, "name", "send_at", *AUDIENCE_FIELDS, *CONTENT_FIELDS]
        return self.readonly_fields

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        store_ids = request_store_ids(request)
        if db_field.name == "stores" and store_ids is not None:
            kwargs["queryset"] = Store.objects.filter(pk__in=store_ids)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        store_ids = request_store_ids(request)
        if db_field.name == "community" and store_ids is not None:
            kwargs["queryset"] = Community.objects.filter(store_id__in=store_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        campaign_save(campaign=obj, user=request.user)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        store_ids = request_store_ids(request)
        if store_ids is not None and form.instance.stores.exclude(pk__in=store_ids).exists():
            raise PermissionDenied
        campaign_audience_count_queue(campaign=form.instance, send_later=campaign_audience_count_task.delay)

    @admin.display(description="受众人数（预览）")
    def audience_preview(self, obj):
        if obj is None or obj.pk is None:
            return "保存后显示"
        with replica_reads():
            preview = campaign_audience_preview(campaign=obj)
        if not preview.exact:
            campaign_audience_count_queue(campaign=obj, send_later=campaign_audience_count_task.delay)
        problems = campaign_content_problems(campaign=obj)
        note = format_html("<br><span style='color:#c94838'>{}</span>", "；".join(problems)) if problems else ""
        figure = (
            format_html("{} 人", preview.count)
            if preview.exact
            else format_html("约 {} 人（估算；精确人数正在后台统计，稍后刷新本页查看）", preview.count)
        )
        return format_html("{}（发送时再排除退订、未同意营销、超频和非好友的客户）{}", figure, note)

    @admin.display(description="进度")
    def progress_bar(self, obj):
        if obj.resolved_at is None:
            return "—"
        progress = campaign_progress(campaign_id=obj.pk)
        return format_html(
            "<progress max='100' value='{}'></progress> {}%",
            progress.percent,
            progress.percent,
        )

    @admin.display(description="发送情况")
    def progress(self, obj):
        if obj is None or obj.resolved_at is None:
            return "尚未开始发送"
        p = campaign_progress(campaign_id=obj.pk)
        statuses = dict(CampaignRecipient.Status.choices)
        reasons = dict(CampaignRecipient.Skip.choices)
        return format_html(
            "<progress max='100' value='{}'></progress> {}%：任务 {}/{} 已创建，{} 失败，{} 位导购已确认<br>{}<br>{}",
            p.percent,
            p.percent,
            p.chunks_created,
            p.chunks,
            p.chunks_failed,
            p.chunks_confirmed,
            format_html_join("，", "{}：{}", ((statuses.get(s, s), n) for s, n in sorted(p.by_status.items()))),
            format_html_join("，", "跳过（{}）：{}", ((reasons.get(r, r), n) for r, n in p.skipped_by_reason.items())),
        )

    @admin.display(description="收件人")
    def results_link(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        recipients = reverse("admin:campaigns_campaignrecipient_changelist") + f"?campaign__id__exact={obj.pk}"
        export = reverse("admin:campaigns_campaign_export", args=[obj.pk])
        return format_html("<a href='{}'>逐人结果</a> · <a href='{}'>导出 CSV</a>", recipients, export)

    def get_urls(self):
        return [
            path("<int:pk>/export/", self.admin_site.admin_view(self.export), name="campaigns_campaign_export"),
            *super().get_urls(),
        ]

    def export(self, request, pk: int):
        campaign = self.get_object(request, str(pk))
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied

        class Echo:
            def write(self, value):
                return value

        writer = csv.writer(Echo())
        rows = (writer.writerow(row) for row in campaign_recipients_export_rows(campaign_id=campaign.pk))
        # A heavy read: the replica's, when fresh enough (entered as the rows are read, after this view returns).
        response = StreamingHttpResponse(_bom(replica_reads_streamed(rows)), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}.csv"'
        return response

    def _each(self, request, queryset, service, done: str):
        for campaign in queryset:
            try:
                service(campaign_id=campaign.pk, user=request.user, store_ids=request_store_ids(request))
            except ApplicationError as error:
                self.message_user(request, f"{campaign}：{error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{campaign}：{done}", messages.SUCCESS)

    @admin.action(description="提交审批")
    def submit(self, request, queryset):
        self._each(request, queryset, campaign_submit, "已提交审批")

    @admin.action(description="审批通过（不能审批自己创建的活动）")
    def approve(self, request, queryset):
        self._each(request, queryset, campaign_approve, "已审批，到发送时间自动发送")

    @admin.action(description="退回修改")
    def reject(self, request, queryset):
        self._each(request, queryset, campaign_reject, "已退回为草稿")

    @admin.action(description="取消活动")
    def cancel(self, request, queryset):
        self._each(request, queryset, campaign_cancel, "已取消")

    @admin.action(description="重试失败的分片")
    def retry_failed(self, request, queryset):
        retried = campaign_failed_chunks_retry(
            campaign_ids=list(queryset.values_list("pk", flat=True)), send_later=campaign_chunk_send_task.delay
        )
        self.message_user(request, f"已重试 {retried} 个分片")


def _bom(rows):
    """Excel opens UTF-8 CSV correctly only with a byte-order mark."""
    yield "\ufeff"
    yield from rows


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(StoreScopedAdmin):
    list_display = ["campaign", "customer", "associate", "status", "skip_reason", "sent_at"]
    list_filter = ["status", "skip_reason"]
    list_select_related = ["campaign", "customer", "associate"]
    raw_id_fields = ["customer", "associate", "chunk"]
    show_full_result_count = False

    def get_queryset(self, request):
        visible = campaigns_visible(store_ids=request_store_ids(request))
        return admin.ModelAdmin.get_queryset(self, request).filter(campaign__in=visible)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JourneyConfig)
class JourneyConfigAdmin(StoreScopedAdmin):
    list_display = ["store", "birthday", "birthday_days_before", "post_purchase_days", "lapsing_days"]


@admin.register(LapsedCustomer)
class LapsedCustomerAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    """沉睡客户: no purchase in the store's N days (its 自动旅程设置's 沉睡唤醒 days, else 90), with their value."""

    store_field = "primary_store"
    list_display = [
        "__str__",
        "primary_store",
        "primary_associate",
        "last_purchase_shown",
        "days_since",
        "spend_shown",
        "orders",
    ]
    # Only the associates in the (store-scoped) list: a plain filter would name every store's.
    list_filter = ["primary_store", ("primary_associate", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["primary_store", "primary_associate"]
    search_fields = ["name"]

    def get_queryset(self, request):
        days = dict(JourneyConfig.objects.filter(lapsing_days__isnull=False).values_list("store_id", "lapsing_days"))
        return customers_lapsed(super().get_queryset(request), days_by_store=days)

    @admin.display(description="最近购买", ordering="last_purchase")
    def last_purchase_shown(self, obj):
        return timezone.localtime(obj.last_purchase).strftime("%Y-%m-%d")

    @admin.display(description="未购天数")
    def days_since(self, obj):
        return (timezone.now() - obj.last_purchase).days

    @admin.display(description="累计消费", ordering="spend")
    def spend_shown(self, obj):
        return f"¥{obj.spend:.2f}"

    @admin.display(description="订单数", ordering="order_count")
    def orders(self, obj):
        return obj.order_count
