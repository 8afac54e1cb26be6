"""Admin for coupons: templates (批次) and packs (券包) for managers, the ledgers, and each coupon's story.

Who may do what:
- Templates decide what a coupon is worth, so only HQ (superusers and holders of `associates.view_all_stores`)
  adds or changes them; a store manager sees, read-only, the templates usable in their stores.
- Packs: HQ manages every pack. A store manager may create packs for their own stores (at least one store, only
  theirs) and manage packs whose stores are all theirs; packs for every store (no stores) or shared with other
  stores are read-only for them.
- Coupons and the ledgers (发券记录, 核销记录) are records: read-only, scoped to the manager's stores, exportable.
  Revoking (作废) a coupon goes through `coupon_revoke`.

Every write that guards money goes through a service, never a plain form field: a template's stock and a
pack's budget are compare-and-set against the value the page was loaded with (the form's hidden initial), and
statuses move through the transition services. When a service refuses while saving, the whole save is rolled
back and the form is shown again with the service's message on the field.
"""

import copy
import csv
from collections.abc import Iterable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from associates.models import Store
from associates.scoping import StoreScopedAdmin, request_store_ids
from coupons.managing import (
    coupon_pack_budget_set,
    coupon_pack_edit,
    coupon_pack_status_set,
    coupon_template_complete_require,
    coupon_template_create,
    coupon_template_edit,
    coupon_template_status_set,
    coupon_template_stock_set,
)
from coupons.models import (
    CODE_ALPHABET,
    CODE_LENGTH,
    Coupon,
    CouponPack,
    CouponPackItem,
    CouponTemplate,
    IssueRequest,
    Redemption,
    code_display,
    code_normalize,
)
from coupons.redemption import coupon_revoke
from coupons.selectors import (
    coupon_pack_manageable,
    coupon_packs_visible,
    coupon_story_get,
    coupon_templates_visible,
    issue_requests_export_rows,
    issue_requests_with_counts,
    redemptions_export_rows,
    redemptions_visible,
)
from omni.admin import ReadOnlyAdmin
from omni.errors import ApplicationError
from omni.replicas import replica_reads_streamed

# What a coupon is: fixed once a coupon of the template is in a customer's hands, because redemption reads them
# from the template.
RULE_FIELDS = [
    "kind",
    "value",
    "threshold",
    "max_discount",
    "gift_product",
    "scope",
    "categories",
    "products",
    "stacking",
    "channels",
    "stores",
    "valid_from",
    "valid_until",
    "valid_days",
    "valid_delay_days",
    "weekdays",
    "day_starts",
    "day_ends",
]


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


def _about(obj, error: ApplicationError) -> str:
    """A service's message about one of several selected rows, saying which row unless it already does."""
    return error.message if str(obj) in error.message else f"{obj}：{error.message}"


def _is_hq(request) -> bool:
    return request_store_ids(request) is None


# ---------------------------------------------------------------------------------------------------------------
# Saving through services


class _Refused(Exception):
    """A service refused a write while the admin saved: roll the save back and show the form again with why."""

    def __init__(self, field: str | None, reasons: list[str]):
        super().__init__(" ".join(reasons))
        self.field = field
        self.reasons = reasons

    @classmethod
    def from_error(cls, field: str | None, error: ApplicationError) -> "_Refused":
        details = error.details if isinstance(error.details, list) else None
        return cls(field, details or [error.message])


class ServiceForm(forms.ModelForm):
    """A model form that knows the user's stores and shows what a service refused on the previous attempt."""

    store_ids: frozenset[int] | None = None
    refused: _Refused | None = None
    # Fields whose change is judged against the value the page was loaded with (a hidden initial), not the value
    # in the database when the form is posted: a concurrent change is then detected instead of overwritten.
    seen_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in self.seen_fields:
                if name in self.fields:
                    self.fields[name].show_hidden_initial = True

    def seen(self, name: str):
        """The value of a field when the page was loaded."""
        bound = self[name]
        return bound.field.to_python(self.data.get(bound.html_initial_name))

    def clean(self):
        cleaned = super().clean()
        for name in self.seen_fields:
            if self.instance.pk and name in self.fields and self.data.get(self[name].html_initial_name) is None:
                self.add_error(name, "页面已过期，请刷新后重试。")
        if self.refused is not None:
            field = self.refused.field if self.refused.field in self.fields else None
            for reason in self.refused.reasons:
                self.add_error(field, reason)
        return cleaned


class ServiceSaveAdmin(StoreScopedAdmin):
    # What a service refused while saving: set on the copy of the admin that shows that request's form again.
    refused: _Refused | None = None

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        attrs = {"store_ids": request_store_ids(request), "refused": self.refused}
        return type(form.__name__, (form,), attrs)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused as refused:
            # The first attempt's transaction is rolled back; the second shows the posted form with the reason.
            again = copy.copy(self)
            again.refused = refused
            return super(ServiceSaveAdmin, again).changeform_view(request, object_id, form_url, extra_context)

    def _status_action(self, request, queryset, *, move, status: str, done: str, only_from: set[str] | None = None):
        moved = 0
        for obj in queryset:
            if not self.has_change_permission(request, obj):
                self.message_user(request, f"{obj}：您只能管理自己门店的{self.opts.verbose_name}。", messages.ERROR)
                continue
            if only_from is not None and obj.status not in only_from:
                self.message_user(request, f"{obj}：当前是{obj.get_status_display()}，无需{done}。", messages.WARNING)
                continue
            try:
                move(obj.pk, status)
            except ApplicationError as error:
                self.message_user(request, _about(obj, error), messages.ERROR)
                continue
            moved += 1
        if moved:
            self.message_user(request, f"已{done} {moved} 个{self.opts.verbose_name}。", messages.SUCCESS)


def _plain_changed(form) -> list[str]:
    """Changed fields stored in the model's own row (many-to-many fields are saved by the form)."""
    columns = {field.name for field in form.instance._meta.concrete_fields}
    return [name for name in form.changed_data if name in columns]


# ---------------------------------------------------------------------------------------------------------------
# Filters limited to what the user's stores reach


class _ScopedRelatedFilter(admin.RelatedFieldListFilter):
    def scope(self, store_ids: frozenset[int]) -> Q:
        raise NotImplementedError

    def field_choices(self, field, request, model_admin):
        store_ids = request_store_ids(request)
        limit = None if store_ids is None else self.scope(store_ids)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


class OwnStoresFilter(_ScopedRelatedFilter):
    def scope(self, store_ids):
        return Q(pk__in=store_ids)


class OwnAssociatesFilter(_ScopedRelatedFilter):
    def scope(self, store_ids):
        return Q(store_id__in=store_ids)


class VisibleTemplatesFilter(_ScopedRelatedFilter):
    def scope(self, store_ids):
        return Q(pk__in=coupon_templates_visible(store_ids=store_ids).values("pk"))


class VisiblePacksFilter(_ScopedRelatedFilter):
    def scope(self, store_ids):
        return Q(pk__in=coupon_packs_visible(store_ids=store_ids).values("pk"))


# ---------------------------------------------------------------------------------------------------------------
# Templates


class CouponTemplateForm(ServiceForm):
    seen_fields = ("total_stock", "status")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk and "status" in self.fields:
            # A new template starts as a draft or, when complete, running; pausing or stopping comes later.
            statuses = CouponTemplate.Status
            self.fields["status"].choices = [(s.value, s.label) for s in (statuses.DRAFT, statuses.RUNNING)]


@admin.register(CouponTemplate)
class CouponTemplateAdmin(ServiceSaveAdmin):
    """优惠券批次. HQ only adds and changes templates (they decide what coupons are worth); store managers see, read
    only, the templates usable in their stores. Once a coupon was issued, the rule fields are read-only; stock goes
    through `coupon_template_stock_set` and status through `coupon_template_status_set` (form or actions)."""

    form = CouponTemplateForm
    list_display = ["name", "kind", "rule", "status", "stock", "validity", "channels", "created_at"]
    list_filter = ["status", "kind", "channels", "scope"]
    search_fields = ["name"]
    filter_horizontal = ["stores"]
    autocomplete_fields = ["gift_product", "products"]
    actions = ["start", "pause", "resume", "stop"]
    fieldsets = [
        (None, {"fields": ["name", "status"]}),
        (
            "优惠规则",
            {
                "fields": [
                    "kind",
                    "value",
                    "threshold",
                    "max_discount",
                    "gift_product",
                    "scope",
                    "categories",
                    "products",
                    "stacking",
                ]
            },
        ),
        ("退货", {"fields": ["restore_on_return"]}),
        ("渠道和门店", {"fields": ["channels", "stores"]}),
        (
            "有效期",
            {
                "fields": [
                    "valid_from",
                    "valid_until",
                    "valid_days",
                    "valid_delay_days",
                    "weekdays",
                    "day_starts",
                    "day_ends",
                ]
            },
        ),
        ("库存和限领", {"fields": ["total_stock", "issued_count", "per_customer_limit", "per_day_limit"]}),
        (None, {"fields": ["created_at"]}),
    ]

    def get_queryset(self, request):
        return coupon_templates_visible(
            store_ids=request_store_ids(request), queryset=admin.ModelAdmin.get_queryset(self, request)
        )

    def get_readonly_fields(self, request, obj=None):
        fixed = ["issued_count", "created_at"]
        return [*fixed, *RULE_FIELDS] if obj is not None and obj.issued_count else fixed

    def has_add_permission(self, request):
        return _is_hq(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return _is_hq(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        unused = obj is None or not obj.issued_count
        return unused and _is_hq(request) and super().has_delete_permission(request, obj)

    @admin.display(description="规则")
    def rule(self, obj):
        return obj.rule_text

    @admin.display(description="已发放 / 总库存")
    def stock(self, obj):
        return f"{obj.issued_count} / {obj.total_stock}"

    @admin.display(description="有效期")
    def validity(self, obj):
        if obj.valid_days:
            delay = f"，{obj.valid_delay_days} 天后生效" if obj.valid_delay_days else ""
            return f"领取后 {obj.valid_days} 天{delay}"
        if obj.valid_until:
            starts = _local(obj.valid_from) if obj.valid_from else "发放时"
            return f"{starts} 至 {_local(obj.valid_until)}"
        return "未设置"

    def save_model(self, request, obj, form, change):
        if not change:
            # save_related starts it through the service once its products are saved.
            coupon_template_create(template=obj)
            return
        try:
            coupon_template_edit(
                template=obj,
                fields=_plain_changed(form),
                rules_changed=lambda current: self._rules_changed(request, current),
            )
        except ApplicationError as error:
            raise _Refused.from_error(None, error) from error
        if "total_stock" in form.changed_data:
            try:
                coupon_template_stock_set(
                    template_id=obj.pk, expected=form.seen("total_stock"), total_stock=form.cleaned_data["total_stock"]
                )
            except ApplicationError as error:
                raise _Refused.from_error("total_stock", error) from error

    def _rules_changed(self, request, template: CouponTemplate) -> list[str]:
        """Rule fields the post changes, judged on the posted data itself: a page loaded before the first coupon
        was issued still posts them, although they are read-only (and left out of the form) by now."""
        posted = [name for name in RULE_FIELDS if {name, f"{name}_0"} & set(request.POST)]
        if not posted:
            return []
        rules = self.get_form(request, None, change=True, fields=posted)(request.POST, instance=template)
        return rules.changed_data

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        template = form.instance
        status = form.cleaned_data.get("status", template.status)
        moved = "status" in form.changed_data if change else status != CouponTemplate.Status.DRAFT
        if moved:
            try:
                coupon_template_status_set(template_id=template.pk, status=status)
            except ApplicationError as error:
                raise _Refused.from_error("status", error) from error
            return
        try:
            coupon_template_complete_require(template_id=template.pk)
        except ApplicationError as error:
            raise _Refused.from_error(None, error) from error

    def _move(self, template_id: int, status: str) -> None:
        coupon_template_status_set(template_id=template_id, status=status)

    @admin.action(description="启用：开始发放所选批次", permissions=["change"])
    def start(self, request, queryset):
        self._status_action(
            request,
            queryset,
            move=self._move,
            status=CouponTemplate.Status.RUNNING,
            done="启用",
            only_from={CouponTemplate.Status.DRAFT},
        )

    @admin.action(description="暂停发放所选批次（已发出的券照常可用）", permissions=["change"])
    def pause(self, request, queryset):
        self._status_action(request, queryset, move=self._move, status=CouponTemplate.Status.PAUSED, done="暂停")

    @admin.action(description="恢复发放所选批次", permissions=["change"])
    def resume(self, request, queryset):
        self._status_action(
            request,
            queryset,
            move=self._move,
            status=CouponTemplate.Status.RUNNING,
            done="恢复",
            only_from={CouponTemplate.Status.PAUSED},
        )

    @admin.action(description="停止发放所选批次（不可恢复；已发出的券照常可用）", permissions=["change"])
    def stop(self, request, queryset):
        self._status_action(request, queryset, move=self._move, status=CouponTemplate.Status.STOPPED, done="停止")


# ---------------------------------------------------------------------------------------------------------------
# Packs


class CouponPackForm(ServiceForm):
    seen_fields = ("budget",)

    def clean(self):
        cleaned = super().clean()
        stores_given = cleaned.get("stores") or "stores" in self.errors
        if self.store_ids is not None and "stores" in self.fields and not stores_given:
            self.add_error("stores", "请选择可发送门店：店长只能为自己的门店设置券包。")
        budget = cleaned.get("budget")
        if not self.instance.pk and budget is not None and budget < 0:
            self.add_error("budget", "预算不能为负数。")
        return cleaned


class CouponPackItemInline(admin.TabularInline):
    model = CouponPackItem
    extra = 1
    fields = ["template", "quantity", "rule"]
    readonly_fields = ["rule"]

    @admin.display(description="规则")
    def rule(self, obj):
        return obj.template.rule_text if obj.template_id else "—"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "template":
            kwargs["queryset"] = coupon_templates_visible(store_ids=request_store_ids(request)).exclude(
                status=CouponTemplate.Status.STOPPED
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # The items are part of the pack: whoever may add or change the pack may edit them.
    def _editable(self, request, obj) -> bool:
        if obj is None:
            return request.user.has_perm("coupons.add_couponpack")
        return request.user.has_perm("coupons.change_couponpack") and coupon_pack_manageable(
            pack=obj, store_ids=request_store_ids(request)
        )

    def has_add_permission(self, request, obj):
        return self._editable(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("coupons.view_couponpack") or self._editable(request, obj)


@admin.register(CouponPack)
class CouponPackAdmin(ServiceSaveAdmin):
    """券包. HQ manages every pack. A store manager creates packs for their own stores and manages packs whose
    stores are all theirs; packs for every store or shared with other stores are read-only for them. The budget
    changes only through `coupon_pack_budget_set` (compare-and-set, never below what is spent); status only
    through the pause / resume / stop actions (`coupon_pack_status_set`)."""

    form = CouponPackForm
    inlines = [CouponPackItemInline]
    list_display = ["name", "status", "budget", "spent", "store_names", "sender_role", "daily_quota", "created_at"]
    list_filter = ["status", "sender_role", ("stores", OwnStoresFilter)]
    search_fields = ["name"]
    filter_horizontal = ["stores"]
    fields = ["name", "description", "status", "budget", "spent", "stores", "sender_role", "daily_quota", "created_at"]
    actions = ["pause", "resume", "stop"]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request).prefetch_related("stores")
        return coupon_packs_visible(store_ids=request_store_ids(request), queryset=queryset)

    def get_readonly_fields(self, request, obj=None):
        return ["spent", "created_at"] if obj is None else ["status", "spent", "created_at"]

    def has_add_permission(self, request):
        store_ids = request_store_ids(request)
        return (store_ids is None or bool(store_ids)) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        manageable = obj is None or coupon_pack_manageable(pack=obj, store_ids=request_store_ids(request))
        return manageable and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        manageable = obj is None or coupon_pack_manageable(pack=obj, store_ids=request_store_ids(request))
        return manageable and super().has_delete_permission(request, obj)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        store_ids = request_store_ids(request)
        if db_field.name == "stores" and store_ids is not None:
            kwargs["queryset"] = Store.objects.filter(pk__in=store_ids)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="可发送门店")
    def store_names(self, obj):
        return "、".join(store.name for store in obj.stores.all()) or "全部门店"

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Never the budget (a compare-and-set below), the spent amount or the status (services own them).
        coupon_pack_edit(pack=obj, fields=_plain_changed(form))
        if "budget" in form.changed_data:
            try:
                coupon_pack_budget_set(pack_id=obj.pk, expected=form.seen("budget"), budget=form.cleaned_data["budget"])
            except ApplicationError as error:
                raise _Refused.from_error("budget", error) from error

    def _move(self, pack_id: int, status: str) -> None:
        coupon_pack_status_set(pack_id=pack_id, status=status)

    @admin.action(description="暂停发送所选券包", permissions=["change"])
    def pause(self, request, queryset):
        self._status_action(request, queryset, move=self._move, status=CouponPack.Status.PAUSED, done="暂停")

    @admin.action(description="恢复发送所选券包", permissions=["change"])
    def resume(self, request, queryset):
        self._status_action(request, queryset, move=self._move, status=CouponPack.Status.RUNNING, done="恢复")

    @admin.action(description="停止发送所选券包（不可恢复；已发出的券照常可用）", permissions=["change"])
    def stop(self, request, queryset):
        self._status_action(request, queryset, move=self._move, status=CouponPack.Status.STOPPED, done="停止")


# ---------------------------------------------------------------------------------------------------------------
# Ledgers and coupons: read-only, searched by exact request number, order number or coupon code, exported as CSV


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value):
    # Order numbers and names come from outside: keep Excel from reading them as formulas.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return f"'{value}"
    return value


def csv_response(rows: Iterable[list], *, name: str) -> StreamingHttpResponse:
    """Stream rows as CSV with a UTF-8 BOM, so that Excel opens the Chinese text correctly."""
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff"
        for row in replica_reads_streamed(rows):  # an export is a heavy read: the replica's, when fresh enough
            yield writer.writerow([_csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.localtime():%Y%m%d-%H%M}.csv"'
    return response


def _is_code(text: str) -> bool:
    return len(text) == CODE_LENGTH and set(text) <= set(CODE_ALPHABET)


class LedgerAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    """Read-only rows, exact search (request number, order number, coupon code as typed), and a CSV export of
    what the list shows (filters and search applied, within the user's stores)."""

    change_list_template = "admin/coupons/ledger_change_list.html"
    exact_search: tuple[str, ...] = ()
    code_search = ""
    export_name = ""
    show_full_result_count = False
    actions = ["export_selected"]

    def export_rows(self, queryset) -> Iterable[list]:
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        # Exact matches on indexed columns, not Django's word-by-word icontains: a code typed "abcd efgh jkmn"
        # is one code.
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q.create([(field, term) for field in self.exact_search], connector=Q.OR)
        code = code_normalize(term)
        if self.code_search and _is_code(code):
            matches |= Q(**{self.code_search: code})
        return queryset.filter(matches), False

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        return [path("export/", self.admin_site.admin_view(self.export_view), name=name), *super().get_urls()]

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
        return csv_response(self.export_rows(changelist.queryset), name=self.export_name)

    @admin.action(description="导出所选为 CSV")
    def export_selected(self, request, queryset):
        return csv_response(self.export_rows(queryset), name=self.export_name)


@admin.register(IssueRequest)
class IssueRequestAdmin(LedgerAdmin):
    """发券记录: one row per send, in the sending store's scope."""

    list_display = ["request_no", "created_at", "pack", "customer", "associate", "store", "source", "count", "cost"]
    list_filter = [
        ("created_at", admin.DateFieldListFilter),
        "source",
        ("store", OwnStoresFilter),
        ("associate", OwnAssociatesFilter),
        ("pack", VisiblePacksFilter),
    ]
    search_fields = ["request_no", "coupons__code"]
    search_help_text = "按请求号或券码（可带空格、小写）精确查找"
    exact_search = ("request_no",)
    code_search = "coupons__code"
    date_hierarchy = "created_at"
    list_select_related = ["pack", "customer", "associate", "store"]
    fields = [
        "request_no",
        "created_at",
        "pack",
        "customer",
        "associate",
        "store",
        "source",
        "cost",
        "coupon_links",
    ]
    readonly_fields = ["coupon_links"]
    export_name = "coupon-issue-requests"

    def get_queryset(self, request):
        return issue_requests_with_counts(queryset=super().get_queryset(request))

    def export_rows(self, queryset):
        return issue_requests_export_rows(issue_requests=queryset)

    @admin.display(description="券数", ordering="coupon_count")
    def count(self, obj):
        return obj.coupon_count

    @admin.display(description="发出的券")
    def coupon_links(self, obj):
        return format_html_join(
            "、",
            "<a href='{}'>{}</a>",
            (
                (reverse("admin:coupons_coupon_change", args=[coupon.pk]), code_display(coupon.code))
                for coupon in obj.coupons.filter(customer_id=obj.customer_id).order_by("pk")
            ),
        )


@admin.register(Redemption)
class RedemptionAdmin(LedgerAdmin):
    """核销记录: redemptions and returns made in the manager's stores or credited to them."""

    list_display = [
        "created_at",
        "kind",
        "coupon_code",
        "channel",
        "store",
        "order_ref",
        "amount",
        "discount",
        "credited_associate",
        "credited_store",
        "request_no",
    ]
    list_filter = [
        ("created_at", admin.DateFieldListFilter),
        "kind",
        "channel",
        ("store", OwnStoresFilter),
        ("credited_store", OwnStoresFilter),
        ("credited_associate", OwnAssociatesFilter),
    ]
    search_fields = ["request_no", "order_ref", "coupon__code"]
    search_help_text = "按请求号、订单号或券码（可带空格、小写）精确查找"
    exact_search = ("request_no", "order_ref")
    code_search = "coupon__code"
    date_hierarchy = "created_at"
    list_select_related = ["coupon", "store", "credited_associate", "credited_store"]
    exclude = ["api_key"]
    export_name = "coupon-redemptions"

    def get_queryset(self, request):
        return redemptions_visible(
            store_ids=request_store_ids(request), queryset=admin.ModelAdmin.get_queryset(self, request)
        )

    def export_rows(self, queryset):
        return redemptions_export_rows(redemptions=queryset)

    @admin.display(description="券码", ordering="coupon__code")
    def coupon_code(self, obj):
        return code_display(obj.coupon.code)


@admin.register(Coupon)
class CouponAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    """优惠券: each issued coupon with its story; read-only except 作废 (`coupon_revoke`), for holders of the
    change permission, on unused coupons of their stores."""

    list_display = ["code_text", "template", "customer", "associate", "store", "status", "valid_until", "issued_at"]
    list_filter = ["status", ("template", VisibleTemplatesFilter), ("store", OwnStoresFilter)]
    search_fields = ["code"]
    search_help_text = "按券码查找，可带空格、小写"
    list_select_related = ["template", "customer", "associate", "store"]
    show_full_result_count = False
    actions = ["revoke"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "code_text",
                    "template",
                    "rule",
                    "status",
                    "valid_from",
                    "valid_until",
                    "issued_at",
                    "redeemed_at",
                    "reminded_at",
                ]
            },
        ),
        ("券的经历", {"fields": ["story"]}),
    ]
    readonly_fields = ["code_text", "rule", "story"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(code=code_normalize(term)), False

    @admin.display(description="券码", ordering="code")
    def code_text(self, obj):
        return code_display(obj.code)

    @admin.display(description="规则")
    def rule(self, obj):
        return obj.template.rule_text

    @admin.display(description="发放与使用")
    def story(self, obj):
        story = coupon_story_get(coupon_id=obj.pk)
        sent = story.issue_request
        issued = format_html(
            "<p><strong>发放：</strong>{} 由 {}（{}）通过{}发出，券包「{}」，请求号 <a href='{}'>{}</a></p>"
            "<p><strong>发给：</strong><a href='{}'>{}</a></p>",
            _local(story.coupon.issued_at),
            story.coupon.associate or "系统",
            story.coupon.store or "无门店",
            sent.get_source_display(),
            sent.pack,
            reverse("admin:coupons_issuerequest_change", args=[sent.pk]),
            sent.request_no,
            reverse("admin:customers_customer_change", args=[story.coupon.customer_id]),
            story.coupon.customer,
        )
        if not story.redemptions:
            return format_html("{}<p><strong>使用：</strong>尚未使用</p>", issued)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "</tr>",
            (
                (
                    _local(r.created_at),
                    r.get_kind_display(),
                    r.get_channel_display(),
                    r.store or "—",
                    r.order_ref,
                    r.amount,
                    r.discount,
                    r.credited_associate or "—",
                    r.request_no,
                )
                for r in story.redemptions
            ),
        )
        return format_html(
            "{}<p><strong>使用：</strong></p><table><thead><tr><th>时间</th><th>类型</th><th>渠道</th><th>门店</th>"
            "<th>订单号</th><th>订单金额</th><th>优惠金额</th><th>业绩归属导购</th><th>请求号</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            issued,
            rows,
        )

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("coupons.change_coupon")

    @admin.action(description="作废所选优惠券（仅未使用的券）", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = 0
        for coupon in queryset:
            try:
                coupon_revoke(coupon_id=coupon.pk)
            except ApplicationError as error:
                self.message_user(request, _about(coupon, error), messages.ERROR)
                continue
            revoked += 1
        if revoked:
            self.message_user(request, f"已作废 {revoked} 张优惠券。", messages.SUCCESS)
