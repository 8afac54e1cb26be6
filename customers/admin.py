"""Admin for One ID customers, catalog, stock, orders, API keys and the identity review queue.

Store managers see only their stores' rows (see associates.scoping). What brand systems send —
identities, orders, order lines — is read-only here; merges go through the audited services.
"""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from associates.scoping import StoreScopedAdmin, request_store_ids
from customers.ingestion import api_key_scopes_check, api_key_scopes_default, api_key_secret_assign
from customers.models import (
    ApiKey,
    AuditLog,
    ConsentChange,
    ContactBudget,
    ContactTouch,
    Customer,
    CustomerMerge,
    CustomerNote,
    CustomerTag,
    Identity,
    IdentityClaim,
    IdentityConflict,
    ImportJob,
    Order,
    OrderLine,
    Product,
    StoreStock,
    Tag,
)
from customers.services import (
    customer_merge,
    customer_merge_undo,
    customer_profile_view_record,
    identity_claim_confirm,
    identity_conflict_dismiss,
)
from omni.admin import ReadOnlyAdmin, ReadOnlyInline
from omni.errors import ApplicationError
from omni.proxy import client_ip

RECENT_ORDERS = 20


class IdentityInline(ReadOnlyInline, admin.TabularInline):
    model = Identity
    fields = ["kind", "value", "source", "created_at"]
    readonly_fields = fields


class CustomerTagInline(admin.TabularInline):
    model = CustomerTag
    extra = 0
    autocomplete_fields = ["tag"]
    readonly_fields = ["added_by", "created_at"]


class CustomerNoteInline(admin.TabularInline):
    model = CustomerNote
    extra = 0
    fields = ["text", "author", "created_at"]
    readonly_fields = ["author", "created_at"]


@admin.register(Customer)
class CustomerAdmin(StoreScopedAdmin):
    store_field = "primary_store"
    list_display = ["__str__", "phone_masked", "primary_store", "primary_associate", "marketing_consent", "created_at"]
    list_filter = ["primary_store", "gender", "marketing_consent", "opted_out"]
    search_fields = ["name", "=phone", "=identities__value"]
    list_select_related = ["primary_store", "primary_associate"]
    readonly_fields = ["phone", "merged_into", "created_at", "updated_at", "recent_orders"]
    fields = [
        "name",
        "gender",
        "birthday",
        "phone",
        "primary_store",
        "primary_associate",
        "marketing_consent",
        "opted_out",
        "merged_into",
        "created_at",
        "updated_at",
        "recent_orders",
    ]
    inlines = [IdentityInline, CustomerTagInline, CustomerNoteInline]
    show_full_result_count = False

    @admin.display(description="手机号")
    def phone_masked(self, obj):
        return obj.phone_masked

    @admin.display(description="最近订单")
    def recent_orders(self, obj):
        # A bounded list, not an inline: a loyal customer can have thousands of orders.
        orders = obj.orders.select_related("store").order_by("-placed_at")[:RECENT_ORDERS]
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:customers_order_change", args=[order.pk]),
                    order.external_id,
                    order.get_channel_display(),
                    order.store or "—",
                    localtime(order.placed_at).strftime("%Y-%m-%d %H:%M"),
                    order.get_status_display(),
                    order.total_amount,
                )
                for order in orders
            ),
        )
        all_link = f"{reverse('admin:customers_order_changelist')}?customer__id__exact={obj.pk}"
        return format_html("<table>{}</table><a href='{}'>全部订单</a>", rows, all_link)

    def has_delete_permission(self, request, obj=None):
        # Customers are merged or opted out, never deleted: orders and audits point at them.
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            customer_profile_view_record(customer_id=int(object_id), user=request.user, ip=client_ip(request))
        return response

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        associate = getattr(request.user, "associate", None)
        for instance in instances:
            if isinstance(instance, CustomerNote | CustomerTag) and instance.pk is None:
                field = "author" if isinstance(instance, CustomerNote) else "added_by"
                setattr(instance, field, associate)
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()
        formset.save_m2m()


class OrderLineInline(ReadOnlyInline, admin.TabularInline):
    model = OrderLine
    fields = ["line_no", "product", "quantity", "unit_price", "discount"]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    list_display = ["external_id", "channel", "store", "customer", "placed_at", "status", "fulfilment", "total_amount"]
    list_filter = ["channel", "status", "fulfilment", "store"]
    search_fields = ["=external_id"]
    date_hierarchy = "placed_at"
    list_select_related = ["store", "customer"]
    inlines = [OrderLineInline]
    show_full_result_count = False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "price", "is_active"]
    list_filter = ["category", "is_active"]
    search_fields = ["sku", "name", "=barcode"]


@admin.register(StoreStock)
class StoreStockAdmin(StoreScopedAdmin):
    list_display = ["store", "product", "quantity", "updated_at"]
    list_filter = ["store"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["store", "product"]
    autocomplete_fields = ["product"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "group", "wecom_tag_id"]
    search_fields = ["name", "group"]


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label="权限范围",
        choices=ApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="密钥能调用的接口；商品目录会改写全品牌的商品，只能授予不限门店的密钥；门店库存只写密钥可写的门店。",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "channel", "stores", "scopes", "is_active"]

    def clean(self):
        cleaned = super().clean()
        if "scopes" in cleaned and "stores" in cleaned:
            try:
                cleaned["scopes"] = api_key_scopes_check(
                    scopes=cleaned["scopes"], store_limited=bool(cleaned["stores"])
                )
            except ApplicationError as error:
                self.add_error("scopes", error.message)
        return cleaned


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "channel", "scopes_shown", "prefix", "is_active", "created_at", "last_used_at"]
    list_filter = ["channel", "is_active"]
    fields = ["name", "channel", "stores", "scopes", "is_active", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    filter_horizontal = ["stores"]

    @admin.display(description="权限范围")
    def scopes_shown(self, obj: ApiKey) -> str:
        labels = dict(ApiKey.Scope.choices)
        return "、".join(labels[scope].split("（")[0] for scope in obj.scopes if scope in labels) or "无"

    def get_changeform_initial_data(self, request):
        return {"scopes": api_key_scopes_default(store_limited=True), **super().get_changeform_initial_data(request)}

    def get_readonly_fields(self, request, obj=None):
        # The channel is part of what a key may do; change it by making a new key.
        return [*self.readonly_fields, "channel"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        secret = api_key_secret_assign(api_key=obj)
        super().save_model(request, obj, form, change)
        messages.warning(request, format_html("接口密钥只显示这一次，请立即保存：<code>{}</code>", secret))


@admin.register(IdentityConflict)
class IdentityConflictAdmin(StoreScopedAdmin):
    store_field = "linked_to__primary_store"
    list_display = ["__str__", "status", "source", "linked_to", "created_at"]
    list_filter = ["status", "source"]
    readonly_fields = [
        "status",
        "source",
        "incoming",
        "linked_to",
        "customers",
        "created_at",
        "resolved_at",
        "resolved_by",
        "merge",
        "claim_summary",
    ]
    actions = ["merge_into_linked", "dismiss"]

    def get_queryset(self, request):
        # A conflict is the manager's only when every customer in it is theirs: one that names another store's
        # customer would show them and could merge them away, so HQ reviews it.
        queryset = super().get_queryset(request)
        store_ids = request_store_ids(request)
        if store_ids is None:
            return queryset
        return queryset.exclude(customers__in=Customer.objects.exclude(primary_store__in=store_ids))

    def has_add_permission(self, request):
        return False

    @admin.display(description="导购提交的身份声明")
    def claim_summary(self, obj):
        claim = IdentityClaim.objects.filter(conflict=obj).select_related("associate").first()
        if claim is None:
            return "—"
        confirmed = "；客户已在微信中确认" if claim.customer_confirmed_at else ""
        claimed = "、".join(claim.identities_masked)
        return f"{claim.associate or '—'} 为客户 #{claim.customer_id} 声明 {claimed}{confirmed}"

    @admin.action(description="合并：把其他涉及客户合并到本次关联客户（导购声明：确认关联）")
    def merge_into_linked(self, request, queryset):
        for conflict in queryset.filter(status=IdentityConflict.Status.OPEN):
            claim = IdentityClaim.objects.filter(conflict=conflict).first()
            if claim is not None:
                # An associate's claim completes through One ID's rule, which reads the identities again now.
                try:
                    identity_claim_confirm(claim=claim, via=IdentityClaim.Via.MANAGER, actor=request.user)
                except ApplicationError as error:
                    self.message_user(request, f"{conflict}: {error.message}", messages.ERROR)
                continue
            for other in conflict.customers.exclude(pk=conflict.linked_to_id):
                try:
                    customer_merge(
                        source=other,
                        target=conflict.linked_to,
                        actor=request.user,
                        reason="身份冲突审核",
                        conflict=conflict,
                    )
                except ApplicationError as error:
                    self.message_user(request, f"{conflict}: {error.message}", messages.ERROR)

    @admin.action(description="驳回：确认不是同一人")
    def dismiss(self, request, queryset):
        for conflict in queryset.filter(status=IdentityConflict.Status.OPEN):
            identity_conflict_dismiss(conflict=conflict, actor=request.user)


@admin.register(CustomerMerge)
class CustomerMergeAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    store_field = "target__primary_store"
    list_display = ["__str__", "reason", "merged_by", "merged_at", "undone_at"]
    actions = ["undo"]

    @admin.action(description="撤销所选合并")
    def undo(self, request, queryset):
        for merge in queryset:
            try:
                customer_merge_undo(merge=merge, actor=request.user)
            except ApplicationError as error:
                self.message_user(request, f"{merge}: {error.message}", messages.ERROR)


@admin.register(AuditLog)
class AuditLogAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    store_field = "customer__primary_store"
    list_display = ["at", "action", "customer", "user", "associate", "ip"]
    list_filter = ["action"]
    list_select_related = ["customer", "user", "associate"]
    date_hierarchy = "at"
    show_full_result_count = False


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ["file_name", "channel", "status", "rows_done", "rows_total", "rows_rejected", "started_at"]
    list_filter = ["status", "channel"]


@admin.register(ConsentChange)
class ConsentChangeAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    """The consent ledger: every opt-out and opt-in with its source and time (`customers.consent`)."""

    store_field = "customer__primary_store"
    list_display = ["customer", "opted_out", "marketing_consent", "source", "associate", "note", "at"]
    list_filter = ["source", "opted_out"]
    list_select_related = ["customer", "associate"]
    search_fields = ["customer__name", "note"]
    date_hierarchy = "at"


@admin.register(ContactBudget)
class ContactBudgetAdmin(StoreScopedAdmin):
    """每周联系预算: the brand's row (no store, HQ's) and stores' overrides (`customers.budget`)."""

    list_display = ["__str__", "store", "per_week", "allow_override"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if request_store_ids(request) is not None:
            form.base_fields["store"].required = True  # the brand's row is HQ's
        return form


@admin.register(ContactTouch)
class ContactTouchAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    """The 1:1 marketing contacts charged to customers' budgets, overrides among them with their reasons."""

    store_field = "customer__primary_store"
    list_display = ["customer", "associate", "channel", "at", "override", "override_reason"]
    list_filter = ["channel", "override"]
    list_select_related = ["customer", "associate"]
    date_hierarchy = "at"
