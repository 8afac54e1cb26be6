"""Holds and pickups in admin, for store managers (their stores only) and HQ: read-only — a hold is placed, cancelled
and collected through the sidebar and the POS, never edited here — with what a manager asks: what is open in my
store, what expires today, what is overdue, who held it and what happened to it (its events)."""

from datetime import timedelta

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone

from associates.scoping import StoreScopedAdmin
from fulfilment.models import Pickup, PickupEvent, PickupLine


class PickupLineInline(admin.TabularInline):
    model = PickupLine
    extra = 0
    can_delete = False
    readonly_fields = ("product", "quantity")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PickupEventInline(admin.TabularInline):
    model = PickupEvent
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "kind", "associate", "api_key", "request_id", "note")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class OpenFilter(admin.SimpleListFilter):
    title = "待处理"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [
            ("open", "未结束"),
            ("today", "24 小时内到期"),
            ("overdue", "已过保留时间仍未结束"),
            ("unconfirmed", "门店未确认"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        open_ = Q(status__in=Pickup.OPEN)
        if self.value() == "open":
            return queryset.filter(open_)
        if self.value() == "today":
            return queryset.filter(open_, expires_at__gt=now, expires_at__lte=now + timedelta(hours=24))
        if self.value() == "overdue":
            return queryset.filter(open_, expires_at__lte=now)
        if self.value() == "unconfirmed":
            return queryset.filter(open_, confirmed_at__isnull=True)
        return queryset


@admin.register(Pickup)
class PickupAdmin(StoreScopedAdmin):
    list_display = (
        "code",
        "kind",
        "status",
        "items",
        "store",
        "customer",
        "associate",
        "expires_at",
        "confirmed_at",
        "created_at",
    )
    list_filter = (OpenFilter, "kind", "status", "store")
    search_fields = ("code", "customer__name", "customer__phone", "associate__name", "lines__product__sku")
    date_hierarchy = "created_at"
    list_select_related = ("store", "customer", "associate")
    inlines = [PickupLineInline, PickupEventInline]
    actions = None
    readonly_fields = [field.name for field in Pickup._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lines__product")

    @admin.display(description="商品")
    def items(self, obj: Pickup) -> str:
        return "；".join(
            f"{line.product.name}{'（' + line.product.size + '）' if line.product.size else ''} × {line.quantity}"
            for line in obj.lines.all()
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
