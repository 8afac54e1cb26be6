"""Admin for channel and store codes (渠道活码) and acquisition links: a manager makes a code for one associate, for a
store (routed by its schedule), or for a campaign/channel; sets its welcome, pack, community invite, materials and
tags; opens its poster and its figures (a chart by day and CSV). Scoped like the rest of admin: a store manager sees
and makes codes of their stores only.

The chart and the poster are drawn by apps above the client book (insights: `line_chart`; communities: the poster
with the CJK font), registered through `code_renderer`.
"""

import csv
import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from associates.models import Associate
from associates.scoping import StoreScopedAdmin, request_store_ids
from clientbook.codes import (
    LOCAL,
    code_delete,
    code_prepare,
    code_renderer_get,
    code_sync,
    code_welcome_options,
)
from clientbook.codes_stats import CodeDay, code_totals, codes_stats
from clientbook.models import ContactWay, ContactWaySlot
from omni.errors import ApplicationError
from wecom.client import WeComError, wecom_client

STATS_DAYS = 30
CSV_HEADER = [
    "日期",
    "新增",
    "删除",
    "净增",
    "7日留存",
    "30日留存",
    "30日内首购",
    "首购转化率",
    "首购客户30日销售额",
]


class SlotInline(admin.TabularInline):
    model = ContactWaySlot
    extra = 1
    fields = ["associate", "weekdays", "start_hour", "end_hour", "daily_limit", "is_backup"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "associate":
            associates = Associate.objects.filter(is_active=True).select_related("store").order_by("store__code")
            store_ids = request_store_ids(request)
            if store_ids is not None:
                associates = associates.filter(store_id__in=store_ids)
            kwargs["queryset"] = associates
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class KindFilter(admin.SimpleListFilter):
    """The kinds a manager makes (members' own codes are made for them and counted in their store code)."""

    title = "类型"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [c for c in ContactWay.Kind.choices if c[0] != ContactWay.Kind.MEMBER]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


class ContactWayForm(forms.ModelForm):
    welcome_pack_id = forms.TypedChoiceField(label="欢迎券包", coerce=int, required=False, empty_value=None)
    welcome_community_id = forms.TypedChoiceField(
        label="入群邀请（社群）", coerce=int, required=False, empty_value=None
    )
    welcome_material_ids = forms.TypedMultipleChoiceField(label="素材", coerce=int, required=False)

    class Meta:
        model = ContactWay
        fields = [
            "kind",
            "store",
            "associate",
            "label",
            "channel",
            "welcome_text",
            "welcome_pack_id",
            "welcome_community_id",
            "welcome_material_ids",
            "tags",
        ]

    store_ids: frozenset[int] | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store_ids = list(self.store_ids) if self.store_ids is not None else None
        none = [("", "—")]
        self.fields["welcome_pack_id"].choices = none + code_welcome_options("pack", store_ids=store_ids)
        self.fields["welcome_community_id"].choices = none + code_welcome_options("community", store_ids=store_ids)
        self.fields["welcome_material_ids"].choices = code_welcome_options("material", store_ids=store_ids)
        self.fields["kind"].choices = [c for c in ContactWay.Kind.choices if c[0] != ContactWay.Kind.MEMBER]

    def clean(self):
        data = super().clean()
        kind, associate, store = data.get("kind"), data.get("associate"), data.get("store")
        if kind == ContactWay.Kind.ASSOCIATE and associate is None:
            self.add_error("associate", "导购码需要选择导购。")
        if associate is not None and store is not None and associate.store_id != store.pk:
            self.add_error("associate", "导购不在这个门店。")
        data["welcome_material_ids"] = list(data.get("welcome_material_ids") or [])
        return data


@admin.register(ContactWay)
class ContactWayAdmin(StoreScopedAdmin):
    form = ContactWayForm
    inlines = [SlotInline]
    list_display = ["__str__", "kind", "channel", "store", "associate", "state", "adds_30", "links", "status"]
    list_filter = [KindFilter, "channel", "store"]
    search_fields = ["label", "state"]
    readonly_fields = ["state", "config_id", "qr_preview", "link_url", "routed_userids", "created_at", "deleted_at"]
    actions = ["delete_codes"]

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(kind=ContactWay.Kind.MEMBER).select_related("store", "associate")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"store_ids": request_store_ids(request)})

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="二维码")
    def qr_preview(self, obj):
        if obj.link_url:
            return format_html('<a href="{}" target="_blank">{}</a>', obj.link_url, obj.link_url)
        if obj.qr_code:
            return format_html('<img src="{}" width="160" height="160" alt="二维码">', obj.qr_code)
        return "（保存后生成）"

    @admin.display(description="近30天新增")
    def adds_30(self, obj):
        return getattr(obj, "_adds_30", "")

    @admin.display(description="操作")
    def links(self, obj):
        stats = reverse("admin:clientbook_contactway_stats", args=[obj.pk])
        if obj.kind == ContactWay.Kind.LINK:
            return format_html('<a href="{}">数据</a>', stats)
        poster = reverse("admin:clientbook_contactway_poster", args=[obj.pk])
        return format_html('<a href="{}">数据</a> · <a href="{}" target="_blank">海报</a>', stats, poster)

    @admin.display(description="状态")
    def status(self, obj):
        if obj.deleted_at:
            return "已删除"
        return "生效中" if (obj.config_id or obj.link_id) else "未同步到企业微信"

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if hasattr(response, "context_data") and "cl" in response.context_data:
            codes = list(response.context_data["cl"].result_list)
            today = timezone.now().astimezone(LOCAL).date()
            totals = code_totals(
                codes_stats(
                    since=today - dt.timedelta(days=STATS_DAYS - 1), until=today, code_ids=[c.pk for c in codes]
                )
            )
            for code in codes:
                code._adds_30 = totals[code.pk].adds if code.pk in totals else 0
        return response

    # Saving: the row, its schedule and tags, then WeCom ------------------------------------------------------

    def save_model(self, request, obj, form, change):
        code_prepare(code=obj)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        code = form.instance
        if code.deleted_at:
            return
        try:
            code_sync(code=code)
        except (ApplicationError, WeComError) as exc:
            message = exc.message if isinstance(exc, ApplicationError) else f"企业微信返回错误 {exc.errcode}"
            messages.error(request, f"渠道活码已保存，但未能同步到企业微信：{message}。请稍后再保存一次。")

    @admin.action(description="删除所选渠道活码（企业微信中同时删除）")
    def delete_codes(self, request, queryset):
        done = 0
        for code in queryset.filter(deleted_at__isnull=True):
            try:
                code_delete(code=code)
                done += 1
            except WeComError as exc:
                messages.error(request, f"{code} 删除失败：企业微信返回错误 {exc.errcode}")
        messages.success(request, f"已删除 {done} 个渠道活码。")

    # Poster and figures ---------------------------------------------------------------------------------

    def get_urls(self):
        own = [
            path(
                "<int:pk>/poster.png", self.admin_site.admin_view(self.poster_view), name="clientbook_contactway_poster"
            ),
            path("<int:pk>/stats/", self.admin_site.admin_view(self.stats_view), name="clientbook_contactway_stats"),
        ]
        return own + super().get_urls()

    def _code(self, request, pk: int) -> ContactWay:
        code = self.get_queryset(request).filter(pk=pk).first()
        if code is None or not self.has_view_permission(request, code):
            raise Http404
        return code

    def poster_view(self, request, pk: int):
        code = self._code(request, pk)
        render = code_renderer_get("poster")
        if render is None or not code.qr_code:
            raise Http404("no poster")
        return HttpResponse(render(code=code), content_type="image/png")

    def stats_view(self, request, pk: int):
        code = self._code(request, pk)
        today = timezone.now().astimezone(LOCAL).date()
        try:
            days = max(1, min(int(request.GET.get("days", STATS_DAYS)), 366))
        except ValueError:
            days = STATS_DAYS
        since = today - dt.timedelta(days=days - 1)
        rows = codes_stats(since=since, until=today, code_ids=[code.pk])
        series = [
            rows.get((code.pk, since + dt.timedelta(days=i)), CodeDay(code.pk, since + dt.timedelta(days=i)))
            for i in range(days)
        ]
        if request.GET.get("format") == "csv":
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="code-{code.state}.csv"'
            response.write("\ufeff")
            writer = csv.writer(response)
            writer.writerow(CSV_HEADER)
            for row in series:
                writer.writerow(_csv_row(row))
            return response
        total = code_totals({(code.pk, since): CodeDay(code.pk, since), **rows}).get(code.pk)
        chart = code_renderer_get("chart")
        context = {
            **self.admin_site.each_context(request),
            "title": f"渠道活码数据：{code}",
            "opts": self.opts,
            "code": code,
            "days": days,
            "rows": [r for r in reversed(series)],
            "total": total,
            "chart": chart(
                days=[r.day for r in series],
                series=[
                    ("新增", [r.adds for r in series]),
                    ("删除", [r.deletes for r in series]),
                    ("净增", [max(r.net, 0) for r in series]),
                    ("首购", [r.converted for r in series]),
                ],
            )
            if chart
            else "",
            "quota": _link_quota(code),
        }
        return TemplateResponse(request, "admin/clientbook/contactway_stats.html", context)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _csv_row(row: CodeDay) -> list:
    return [
        row.day.isoformat(),
        row.adds,
        row.deletes,
        row.net,
        _percent(row.retained_7),
        _percent(row.retained_30),
        row.converted,
        _percent(row.conversion),
        f"{row.sales:.2f}",
    ]


def _link_quota(code: ContactWay) -> dict | None:
    """An acquisition link's quota and usage as WeCom reports them (None for a QR code, or WeCom unreachable)."""
    if code.kind != ContactWay.Kind.LINK or not code.link_id:
        return None
    client = wecom_client()
    try:
        quota = client.get("externalcontact/customer_acquisition_quota")
        now = int(timezone.now().timestamp())
        statistic = client.post(
            "externalcontact/customer_acquisition/statistic",
            data={"link_id": code.link_id, "start_time": now - 30 * 86400, "end_time": now},
        )
    except WeComError:
        return None
    return {
        "total": quota.get("total"),
        "balance": quota.get("balance"),
        "clicks": statistic.get("click_link_customer_cnt"),
        "added": statistic.get("new_customer_cnt"),
    }
