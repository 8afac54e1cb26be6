"""Admin for the client book: handovers of customers between associates (在职继承 / 离职继承), with each
customer's WeCom outcome (failed ones retryable). Scoped like the rest of admin: a store manager sees handovers from
their stores' associates, HQ everything.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from associates.models import Associate
from associates.scoping import StoreScopedAdmin, request_store_ids
from clientbook.churn import follows_lost
from clientbook.handover import handover_candidates, handover_retry, handover_start, handover_sync
from clientbook.models import Handover, HandoverItem, LostCustomer
from customers.models import CustomerTag
from omni.admin import ReadOnlyAdmin, ReadOnlyInline
from omni.errors import ApplicationError


class HandoverForm(forms.ModelForm):
    SCOPE_CHOICES = [("all", "全部客户"), ("tag", "带某个标签的客户"), ("ids", "指定客户ID")]

    scope = forms.ChoiceField(label="交接范围", choices=SCOPE_CHOICES, initial="all")
    tag = forms.ModelChoiceField(label="标签", queryset=None, required=False)
    customer_ids = forms.CharField(label="客户ID", required=False, help_text="用逗号或换行分隔")

    class Meta:
        model = Handover
        fields = ["from_associate", "to_associate", "message"]

    def __init__(self, *args, store_ids=None, **kwargs):
        super().__init__(*args, **kwargs)
        from customers.models import Tag

        self.store_ids = store_ids
        associates = Associate.objects.select_related("store").order_by("store__code", "name")
        if store_ids is not None:
            associates = associates.filter(store_id__in=store_ids)
        if "from_associate" in self.fields:  # the add form; a started handover is read-only
            self.fields["from_associate"].queryset = associates
            self.fields["to_associate"].queryset = associates.filter(is_active=True)
        self.fields["tag"].queryset = Tag.objects.order_by("group", "name")

    def clean(self):
        data = super().clean()
        source = data.get("from_associate")
        scope = data.get("scope")
        if source is None:
            return data
        customer_ids = None
        if scope == "tag":
            if not data.get("tag"):
                self.add_error("tag", "请选择标签。")
                return data
            customer_ids = list(CustomerTag.objects.filter(tag=data["tag"]).values_list("customer_id", flat=True))
        elif scope == "ids":
            try:
                customer_ids = [
                    int(p)
                    for p in data.get("customer_ids", "").replace("，", ",").replace("\n", ",").split(",")
                    if p.strip()
                ]
            except ValueError:
                self.add_error("customer_ids", "客户ID必须是数字。")
                return data
        data["customer_id_list"] = customer_ids
        if not handover_candidates(associate=source, customer_ids=customer_ids).exists():
            raise forms.ValidationError("该导购在此范围内没有可交接的企业微信客户。")
        return data


class HandoverItemInline(ReadOnlyInline, admin.TabularInline):
    model = HandoverItem
    fields = ["customer", "external_userid", "status", "why", "attempts", "finished_at"]
    readonly_fields = fields

    @admin.display(description="失败原因")
    def why(self, obj):
        return obj.fail_label


@admin.register(Handover)
class HandoverAdmin(StoreScopedAdmin):
    """客户交接: start one here; WeCom's answers (taken over / refused / full) show per customer below."""

    store_field = "from_associate__store"
    form = HandoverForm
    list_display = ["__str__", "from_associate", "to_associate", "created_at", "progress"]
    list_select_related = ["from_associate", "to_associate"]
    inlines = [HandoverItemInline]
    actions = ["sync_results", "retry_failed"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        store_ids = request_store_ids(request)

        class Scoped(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, store_ids=store_ids, **kw)

        return Scoped

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["from_associate", "to_associate", "scope", "tag", "customer_ids", "message"]
        return ["from_associate", "to_associate", "kind", "message", "created_by", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["from_associate", "to_associate", "kind", "message", "created_by", "created_at"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description="进度")
    def progress(self, obj):
        counts = {status: 0 for status in HandoverItem.Status.values}
        for status in obj.items.values_list("status", flat=True):
            counts[status] += 1
        return "，".join(f"{HandoverItem.Status(s).label} {n}" for s, n in counts.items() if n) or "—"

    def save_model(self, request, obj, form, change):
        handover = handover_start(
            from_associate=form.cleaned_data["from_associate"],
            to_associate=form.cleaned_data["to_associate"],
            customer_ids=form.cleaned_data.get("customer_id_list"),
            message=form.cleaned_data.get("message", ""),
            user=request.user,
            store_ids=request_store_ids(request),
        )
        obj.pk = handover.pk
        obj.kind, obj.created_at = handover.kind, handover.created_at

    def save_related(self, request, form, formsets, change):
        """Items are written by the service."""

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.path)

    @admin.action(description="同步企业微信接替结果", permissions=["retry"])
    def sync_results(self, request, queryset):
        for handover in queryset.select_related("from_associate", "to_associate"):
            counts = handover_sync(handover=handover)
            self.message_user(
                request, f"{handover}：已接替 {counts['succeeded']}，失败 {counts['failed']}，等待 {counts['waiting']}"
            )

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("clientbook.add_handover")

    @admin.action(description="重试失败的客户", permissions=["retry"])
    def retry_failed(self, request, queryset):
        ids = list(
            HandoverItem.objects.filter(handover__in=queryset, status=HandoverItem.Status.FAILED).values_list(
                "pk", flat=True
            )
        )
        asked = handover_retry(item_ids=ids, store_ids=request_store_ids(request))
        self.message_user(request, f"已重新发起 {asked} 位客户的转接。")


@admin.register(HandoverItem)
class HandoverItemAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    """Every customer in a handover; filter 失败 to see who refused or who could not fit, and retry them."""

    store_field = "handover__from_associate__store"
    list_display = ["external_userid", "customer", "handover", "status", "why", "attempts", "updated_at"]
    list_filter = ["status", "fail_reason"]
    list_select_related = ["customer", "handover"]
    actions = ["retry"]

    @admin.display(description="失败原因")
    def why(self, obj):
        return obj.fail_label

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("clientbook.add_handover")

    @admin.action(description="重试所选失败客户", permissions=["retry"])
    def retry(self, request, queryset):
        asked = handover_retry(
            item_ids=list(queryset.values_list("pk", flat=True)), store_ids=request_store_ids(request)
        )
        self.message_user(request, f"已重新发起 {asked} 位客户的转接。")


@admin.register(LostCustomer)
class LostCustomerAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    """流失客户: who deleted whom and when, with what the customer was worth (`clientbook.churn.follows_lost`); a
    store manager sees her stores' associates' losses."""

    store_field = "associate__store"
    list_display = [
        "customer",
        "associate",
        "store",
        "ended_reason",
        "ended_at",
        "spend_shown",
        "orders",
        "last_purchase",
    ]
    # Only the associates in the (store-scoped) list: a plain filter would name every store's.
    list_filter = ["ended_reason", "associate__store", ("associate", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["customer", "associate__store"]
    search_fields = ["customer__name", "remark", "associate__name"]
    date_hierarchy = "ended_at"

    def get_queryset(self, request):
        return follows_lost(super().get_queryset(request))

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        return filters if request_store_ids(request) is None else [f for f in filters if f != "associate__store"]

    @admin.display(description="门店", ordering="associate__store__name")
    def store(self, obj):
        return obj.associate.store

    @admin.display(description="累计消费", ordering="spend")
    def spend_shown(self, obj):
        return f"¥{obj.spend:.2f}"

    @admin.display(description="订单数", ordering="order_count")
    def orders(self, obj):
        return obj.order_count

    @admin.display(description="最近购买", ordering="last_purchase")
    def last_purchase(self, obj):
        return obj.last_purchase


from clientbook import codes_admin  # noqa: E402, F401 - registers the codes admin (渠道活码)
