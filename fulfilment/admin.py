from django.contrib import admin

from associates.scoping import StoreScopedAdmin
from fulfilment.models import Pickup, PickupLine


class PickupLineInline(admin.TabularInline):
    model = PickupLine
    extra = 0
    can_delete = False
    readonly_fields = ("product", "quantity")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Pickup)
class PickupAdmin(StoreScopedAdmin):
    list_display = ("code", "kind", "status", "store", "customer", "associate", "expires_at", "created_at")
    list_filter = ("kind", "status", "store")
    search_fields = ("code", "customer__name", "customer__phone")
    date_hierarchy = "created_at"
    inlines = [PickupLineInline]
    readonly_fields = [field.name for field in Pickup._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
