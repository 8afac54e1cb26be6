"""Admin for stores and associates, scoped to the manager's stores."""

from django.contrib import admin

from associates.models import Associate, Store
from associates.scoping import StoreScopedAdmin, request_store_ids


@admin.register(Store)
class StoreAdmin(StoreScopedAdmin):
    store_field = "pk"
    list_display = ["code", "name", "city", "is_active"]
    list_filter = ["is_active", "city"]
    search_fields = ["code", "name", "city"]
    filter_horizontal = ["managers"]

    def get_readonly_fields(self, request, obj=None):
        # Only HQ decides who manages a store (a manager cannot grant access to their store) and which WeCom
        # department it is, which the app's visible range is checked against.
        if request_store_ids(request) is None:
            return []
        return ["code", "managers", "wecom_department_id"]

    def has_add_permission(self, request):
        return request_store_ids(request) is None and super().has_add_permission(request)


@admin.register(Associate)
class AssociateAdmin(StoreScopedAdmin):
    list_display = ["name", "wecom_userid", "store", "role", "is_active"]
    list_filter = ["role", "is_active", "store"]
    search_fields = ["name", "wecom_userid"]
    list_select_related = ["store"]
    raw_id_fields = ["user"]

    def get_readonly_fields(self, request, obj=None):
        # The admin account an associate acts as (notes' author) is HQ's to give: any user id typed here would do.
        if request_store_ids(request) is None:
            return []
        return ["user"]
