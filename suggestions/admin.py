"""Admin for add-on suggestions: the brand's complement rules, the model builds, and what associates sent.

Complement rules are brand-wide: whoever holds the model permissions (HQ) edits them, store managers may only
read them. Model builds are records, with a button that queues a rebuild. Outreach is read-only and scoped to
the manager's stores.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from associates.scoping import StoreScopedAdmin
from omni.admin import ReadOnlyAdmin
from suggestions.models import ComplementRule, Outreach, SuggestionModel
from suggestions.tasks import suggestion_model_build_task


@admin.register(ComplementRule)
class ComplementRuleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "category", "complements", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["category", "complements"]
    fields = ["category", "complements", "is_active", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(SuggestionModel)
class SuggestionModelAdmin(ReadOnlyAdmin):
    change_list_template = "admin/suggestions/suggestionmodel/change_list.html"
    list_display = ["__str__", "status", "started_at", "built_at", "lines", "baskets", "items", "seconds", "peak_mb"]
    list_filter = ["status"]

    def get_queryset(self, request):
        # The pickled model is megabytes per row and never shown.
        return super().get_queryset(request).defer("payload")

    def get_urls(self):
        rebuild = path(
            "rebuild/", self.admin_site.admin_view(self.rebuild_view), name="suggestions_suggestionmodel_rebuild"
        )
        return [rebuild, *super().get_urls()]

    def has_rebuild_permission(self, request) -> bool:
        return request.user.has_perm("suggestions.rebuild_suggestionmodel")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_rebuild": self.has_rebuild_permission(request)}
        return super().changelist_view(request, extra_context)

    def rebuild_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_rebuild_permission(request):
            raise PermissionDenied
        transaction.on_commit(suggestion_model_build_task.delay)
        self.message_user(request, "已排队重建推荐模型，通常一分钟内完成；刷新本页查看结果。", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:suggestions_suggestionmodel_changelist"))


@admin.register(Outreach)
class OutreachAdmin(StoreScopedAdmin, ReadOnlyAdmin):
    list_display = ["sent_at", "store", "associate", "customer", "product", "source", "reason"]
    list_filter = ["source", "store"]
    search_fields = ["=product__sku", "associate__name"]
    list_select_related = ["store", "associate", "customer", "product"]
    date_hierarchy = "sent_at"
    show_full_result_count = False
