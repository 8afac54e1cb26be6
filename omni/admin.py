"""Admin plumbing every app shares: read-only admins and inlines for rows that are records of what happened."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that come from brand systems or are records of what happened: looked at, never edited here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline:
    can_delete = False
    extra = 0
    max_num = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
