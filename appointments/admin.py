"""Admin: a store's slot templates and closed dates (edited by HQ or the store's manager), and its appointments (read,
with their held items and history)."""

from django.contrib import admin

from appointments.models import Appointment, AppointmentChange, AppointmentItem, ClosedDate, SlotTemplate
from associates.scoping import StoreScopedAdmin


@admin.register(SlotTemplate)
class SlotTemplateAdmin(StoreScopedAdmin):
    list_display = (
        "store",
        "weekday",
        "start_time",
        "end_time",
        "slot_minutes",
        "capacity",
        "kind",
        "associate",
        "is_active",
    )
    list_filter = ("store", "kind", "weekday", "is_active")
    list_editable = ("is_active",)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Appointments point at their template: a store stops offering slots by unticking 启用.
        return False


@admin.register(ClosedDate)
class ClosedDateAdmin(StoreScopedAdmin):
    list_display = ("store", "date", "reason")
    list_filter = ("store",)
    date_hierarchy = "date"


class AppointmentItemInline(admin.TabularInline):
    model = AppointmentItem
    extra = 0
    can_delete = False
    readonly_fields = ("pickup",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class AppointmentChangeInline(admin.TabularInline):
    model = AppointmentChange
    extra = 0
    can_delete = False
    readonly_fields = ("action", "from_starts_at", "to_starts_at", "by_associate", "at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Appointment)
class AppointmentAdmin(StoreScopedAdmin):
    list_display = ("starts_at", "kind", "status", "store", "customer", "associate", "channel")
    list_filter = ("status", "kind", "channel", "store")
    search_fields = ("customer__name", "customer__phone")
    date_hierarchy = "starts_at"
    inlines = [AppointmentItemInline, AppointmentChangeInline]
    readonly_fields = [field.name for field in Appointment._meta.fields if field.name != "id"]
    list_select_related = ("store", "customer", "associate")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
