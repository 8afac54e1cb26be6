from django.contrib import admin

from associates.scoping import StoreScopedAdmin
from drafts.models import Draft


@admin.register(Draft)
class DraftAdmin(StoreScopedAdmin):
    """Read only: which drafts the model wrote, which the checker refused and why."""

    list_display = ("created_at", "purpose", "outcome", "reason", "associate", "customer", "store")
    list_filter = ("outcome", "purpose", "store")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Draft._meta.fields]
    actions = None

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
