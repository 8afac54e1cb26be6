"""Admin plumbing every app shares: read-only admins and inlines for rows that are records of what happened; the
admin of django-axes' sign-in records, for superusers only."""

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
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


class SuperusersOnlyAdmin(admin.ModelAdmin):
    """Rows only superusers look at (who tried to sign in, from where): not given by any permission, and read-only
    but for deleting, which is how a superuser lifts a lockout early."""

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)


# django-axes' records of admin sign-ins (AXES_ENABLE_ADMIN is off so that they are registered here, restricted).
@admin.register(AccessAttempt)
class AccessAttemptAdmin(SuperusersOnlyAdmin, axes_admin.AccessAttemptAdmin):
    pass


@admin.register(AccessFailureLog)
class AccessFailureLogAdmin(SuperusersOnlyAdmin, axes_admin.AccessFailureLogAdmin):
    pass


@admin.register(AccessLog)
class AccessLogAdmin(SuperusersOnlyAdmin, axes_admin.AccessLogAdmin):
    pass
