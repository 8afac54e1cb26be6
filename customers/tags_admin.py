"""Admin for corp tags (标签组, 标签) and auto-tag rules (自动标签规则).

Creating, renaming and deleting a group or a tag here goes to WeCom first (customers.tags: add/edit/del_corp_tag)
and then here; what WeCom refuses is shown and nothing is saved. A store manager sees her stores' groups only.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse

from associates.scoping import StoreScopedAdmin, request_store_ids
from customers.models import AutoTagRule, Tag, TagGroup
from customers.tags import (
    tag_create,
    tag_delete,
    tag_edit,
    tag_group_create,
    tag_group_delete,
    tag_group_edit,
)
from customers.tags_rules import auto_tag_rule_apply
from omni.errors import ApplicationError


class _BrandOrStoreAdmin(StoreScopedAdmin):
    """Rows of no store (the brand's groups, tags and rules) are everyone's with the permission; a store's, its
    managers' and HQ's."""

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        store_ids = request_store_ids(request)
        if store_ids is None:
            return queryset
        return queryset.filter(Q(**{f"{self.store_field}__isnull": True}) | Q(**{f"{self.store_field}__in": store_ids}))


class _PushedAdmin(_BrandOrStoreAdmin):
    """save_model / delete_model call a service; a refusal is shown, nothing is saved, and the page goes back."""

    def _refuse(self, request, error: ApplicationError) -> None:
        self.message_user(request, error.message, messages.ERROR)
        request._tag_refused = True

    def _back(self, request, default):
        if getattr(request, "_tag_refused", False):
            return HttpResponseRedirect(request.get_full_path())
        return default

    def response_add(self, request, obj, post_url_continue=None):
        return self._back(request, None) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._back(request, None) or super().response_change(request, obj)

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "_tag_refused", False):
            return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))
        return super().response_delete(request, obj_display, obj_id)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class TagGroupForm(forms.ModelForm):
    first_tags = forms.CharField(
        label="标签", required=False, help_text="新建标签组时填写，多个用逗号分隔（企业微信不保留空的标签组）"
    )

    class Meta:
        model = TagGroup
        fields = ["name", "store", "order"]


class TagInline(admin.TabularInline):
    model = Tag
    fields = ["name", "order", "wecom_tag_id"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TagGroup)
class TagGroupAdmin(_PushedAdmin):
    form = TagGroupForm
    list_display = ["name", "store", "order", "wecom_group_id"]
    list_filter = ["store"]
    search_fields = ["name"]
    readonly_fields = ["wecom_group_id"]
    inlines = [TagInline]

    def save_model(self, request, obj, form, change):
        try:
            if not change:
                names = [n.strip() for n in form.cleaned_data.get("first_tags", "").replace("，", ",").split(",")]
                created = tag_group_create(
                    name=obj.name, tag_names=[n for n in names if n], store=obj.store, order=obj.order
                )
                obj.pk = created.pk
                return
            before = TagGroup.objects.get(pk=obj.pk)
            tag_group_edit(group=before, name=obj.name, order=obj.order)
            if "store" in form.changed_data:
                TagGroup.objects.filter(pk=obj.pk).update(store=obj.store)
        except ApplicationError as error:
            self._refuse(request, error)

    def save_related(self, request, form, formsets, change):
        if not getattr(request, "_tag_refused", False):
            super().save_related(request, form, formsets, change)

    def delete_model(self, request, obj):
        try:
            tag_group_delete(group=obj)
        except ApplicationError as error:
            self._refuse(request, error)


class TagForm(forms.ModelForm):
    class Meta:
        model = Tag
        fields = ["name", "tag_group", "order"]


@admin.register(Tag)
class TagAdmin(_PushedAdmin):
    form = TagForm
    store_field = "tag_group__store"
    list_display = ["name", "group", "order", "wecom_tag_id"]
    search_fields = ["name", "group"]
    readonly_fields = ["wecom_tag_id"]

    def save_model(self, request, obj, form, change):
        try:
            if not change:
                if obj.tag_group is not None and obj.tag_group.wecom_group_id:
                    obj.pk = tag_create(group=obj.tag_group, name=obj.name).pk
                    return
                obj.group = obj.tag_group.name if obj.tag_group else ""
                obj.save()  # a tag Omni keeps alone (its group is not WeCom's)
                return
            before = Tag.objects.get(pk=obj.pk)
            if "tag_group" in form.changed_data:
                raise ApplicationError("tag_group_fixed", "企业微信不支持把标签移到其他标签组：请在新组里新建。")
            tag_edit(tag=before, name=obj.name, order=obj.order)
        except ApplicationError as error:
            self._refuse(request, error)

    def delete_model(self, request, obj):
        try:
            tag_delete(tag=obj)
        except ApplicationError as error:
            self._refuse(request, error)


class AutoTagRuleForm(forms.ModelForm):
    class Meta:
        model = AutoTagRule
        fields = [
            "name",
            "kind",
            "tag",
            "active",
            "category",
            "min_spend",
            "min_orders",
            "within_days",
            "segment",
            "code_state",
            "community_id",
            "coupon_template_id",
        ]

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        needs = {
            AutoTagRule.Kind.CODE: ("code_state", "请填写渠道活码的 state。"),
            AutoTagRule.Kind.COMMUNITY: ("community_id", "请填写社群 ID。"),
        }
        if kind in needs and not data.get(needs[kind][0]):
            self.add_error(needs[kind][0], needs[kind][1])
        purchase = ("category", "min_spend", "min_orders", "within_days", "segment")
        if kind == AutoTagRule.Kind.PURCHASE and not any(data.get(name) not in (None, "") for name in purchase):
            raise forms.ValidationError("按购买的规则至少需要一个条件（品类、金额、订单数、近 N 天或分层）。")
        return data


@admin.register(AutoTagRule)
class AutoTagRuleAdmin(_BrandOrStoreAdmin):
    form = AutoTagRuleForm
    store_field = "tag__tag_group__store"
    list_display = ["name", "kind", "tag", "active", "last_count", "last_run_at"]
    list_filter = ["kind", "active"]
    readonly_fields = ["last_run_at", "last_count"]
    autocomplete_fields = ["tag"]
    actions = ["run_now"]

    @admin.action(description="立即运行所选规则", permissions=["change"])
    def run_now(self, request, queryset):
        for rule in queryset:
            added, removed = auto_tag_rule_apply(rule=rule)
            self.message_user(request, f"{rule}：新增 {added} 人，移除 {removed} 人。", messages.SUCCESS)
