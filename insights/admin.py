"""Admin for manager insight: the performance dashboard (业绩看板), attributions with their reasons, the
attribution rule (client-book handovers are `clientbook.admin`'s).

Scoped like the rest of admin: a store manager sees their stores' figures and associates, HQ everything.
"""

import csv
import datetime as dt

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from associates.scoping import StoreScopedAdmin, request_store_ids
from insights.charts import funnel, line_chart
from insights.models import Attribution, AttributionConfig, DailyStats, SalesTarget
from insights.selectors import dashboard_csv_rows, dashboard_get, stores_visible
from insights.services import CSV_TEMPLATE, FILE_ERRORS, sales_target_import
from omni.admin import ReadOnlyAdmin

DEFAULT_DAYS = 30
MAX_DAYS = 366


def _is_hq(request) -> bool:
    return request_store_ids(request) is None


class DashboardFilter(forms.Form):
    start = forms.DateField(
        label="开始日期", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        label="结束日期", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    store = forms.ModelChoiceField(label="门店", queryset=None, required=False, empty_label="全部门店")

    def __init__(self, *args, store_ids, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores_visible(store_ids=store_ids)

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("开始日期不能晚于结束日期。")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError("时间范围最多一年。")
        data["start"], data["end"] = start, end
        return data


@admin.register(DailyStats)
class DashboardAdmin(StoreScopedAdmin):
    """业绩看板: the changelist is the dashboard, read from the daily figures Celery keeps. A row's own page (change,
    history) is scoped like every admin row, so a manager cannot open another store's figures by id."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        store_ids = request_store_ids(request)
        form = DashboardFilter(request.GET, store_ids=store_ids)
        if form.is_valid():
            start, end, store = form.cleaned_data["start"], form.cleaned_data["end"], form.cleaned_data["store"]
        else:
            # A bad filter (or another manager's store) shows today in the user's own stores, never more.
            start = end = timezone.localdate()
            store = None
        # Show the range actually used in the inputs, also when the defaults filled it.
        shown = {"start": start.isoformat(), "end": end.isoformat(), "store": store.pk if store else ""}
        if form.is_valid():
            form = DashboardFilter(shown, store_ids=store_ids)
            form.is_valid()
        dashboard = dashboard_get(store_ids=store_ids, start=start, end=end, store_id=store.pk if store else None)
        if request.GET.get("format") == "csv":
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="performance_{start}_{end}.csv"'
            response.write("\ufeff")  # Excel reads UTF-8 CSV as such only with a BOM
            writer = csv.writer(response)
            for row in dashboard_csv_rows(dashboard=dashboard):
                writer.writerow(row)
            return response
        totals = dashboard.totals
        days = [row["day"] for row in dashboard.trend]
        top_gmv = max((float(row["gmv"]) for row in dashboard.associates), default=0) or 1
        context = {
            **self.admin_site.each_context(request),
            "title": "业绩看板",
            "opts": self.opts,
            "form": form,
            "dashboard": dashboard,
            "totals": totals,
            "leaders": [dict(row, bar=round(float(row["gmv"]) / top_gmv * 100, 1)) for row in dashboard.associates],
            "gmv_chart": line_chart(
                width=560, days=days, series=[("归因GMV（元）", [row["gmv"] for row in dashboard.trend])]
            ),
            "activity_chart": line_chart(
                days=days,
                series=[
                    ("新增客户", [row["customers_added"] for row in dashboard.trend]),
                    ("触达客户", [row["customers_touched"] for row in dashboard.trend]),
                    ("核销（张）", [row["coupons_redeemed"] for row in dashboard.trend]),
                ],
            ),
            "coupon_funnel": funnel(steps=[("发券", totals["coupons_sent"]), ("核销", totals["coupons_redeemed"])]),
            "suggestion_funnel": funnel(
                steps=[("推荐发送", totals["suggestions_sent"]), ("推荐成交", totals["suggestions_bought"])]
            ),
            "invite_funnel": funnel(steps=[("社群邀请", totals["invites_sent"]), ("入群", totals["invites_joined"])]),
            **(extra_context or {}),
        }
        query = request.GET.copy()
        query["format"] = "csv"
        context["csv_query"] = query.urlencode()
        return TemplateResponse(request, "admin/insights/dashboard.html", context)


@admin.register(Attribution)
class AttributionAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    list_display = ["order", "placed_at", "associate", "store", "share", "amount", "touch_kind", "touch_at", "rule"]
    list_filter = ["touch_kind", "rule", "store"]
    list_select_related = ["order", "associate", "store"]
    search_fields = ["order__external_id", "associate__name"]
    date_hierarchy = "placed_at"
    show_full_result_count = False


@admin.register(AttributionConfig)
class AttributionConfigAdmin(admin.ModelAdmin):
    """The rule in force. HQ changes it, then recomputes a period (manage.py insights_recompute or the task)."""

    list_display = ["__str__", "updated_at"]

    def has_add_permission(self, request):
        return _is_hq(request) and not AttributionConfig.objects.exists()

    def has_change_permission(self, request, obj=None):
        return _is_hq(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


class SalesTargetForm(forms.ModelForm):
    month = forms.DateField(
        label="月份",
        input_formats=["%Y-%m", "%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        help_text="例如 2026-12",
    )

    class Meta:
        model = SalesTarget
        fields = ["month", "store", "associate", "amount", "new_customers"]

    def clean_month(self):
        return self.cleaned_data["month"].replace(day=1)

    def clean(self):
        data = super().clean()
        store, associate = data.get("store"), data.get("associate")
        if store and associate and associate.store_id != store.pk:
            self.add_error("associate", "这位导购不属于所选门店。")
        return data


class TargetImportForm(forms.Form):
    file = forms.FileField(label="CSV 文件", help_text="UTF-8 编码；列：month, store, associate, amount, new_customers")


@admin.register(SalesTarget)
class SalesTargetAdmin(StoreScopedAdmin):
    """月度目标: a manager sets their stores' targets one by one or imports a CSV (all rows or none)."""

    form = SalesTargetForm
    list_display = ["month_label", "store", "associate", "amount", "new_customers", "updated_at"]
    list_filter = ["month", "store"]
    list_select_related = ["store", "associate"]
    search_fields = ["associate__name", "associate__wecom_userid", "store__code"]
    change_list_template = "admin/insights/salestarget_change_list.html"

    @admin.display(description="月份", ordering="month")
    def month_label(self, obj):
        return f"{obj.month:%Y-%m}"

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="insights_salestarget_import"),
            path("template.csv", self.admin_site.admin_view(self.template_view), name="insights_salestarget_template"),
            *super().get_urls(),
        ]

    def template_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = HttpResponse(CSV_TEMPLATE, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="sales_targets_template.csv"'
        return response

    def import_view(self, request):
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        result = None
        form = TargetImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            result = sales_target_import(content=form.cleaned_data["file"].read(), store_ids=request_store_ids(request))
            if result.ok:
                self.message_user(
                    request, f"已导入：新增 {result.created} 条，更新 {result.updated} 条，未变 {result.unchanged} 条。"
                )
                return HttpResponseRedirect("../")
        context = {
            **self.admin_site.each_context(request),
            "title": "导入月度目标",
            "opts": self.opts,
            "form": form,
            "result": result,
            "file_error": FILE_ERRORS.get(result.file_error, "") if result else "",
        }
        return TemplateResponse(
            request, "admin/insights/salestarget_import.html", context, status=400 if result else 200
        )
