"""Store scoping for Django admin: a store manager sees and edits only rows of their stores.

A row outside the manager's stores answers 404 whether it exists or not, so nothing leaks.
"""

from django.contrib import admin
from django.http import Http404

from associates.models import Store
from associates.selectors import user_store_ids


class StoreScopedAdmin(admin.ModelAdmin):
    # The lookup from this model to its Store's pk, e.g. "store" or "primary_store" or "pk".
    store_field = "store"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        store_ids = user_store_ids(user=request.user)
        if store_ids is None:
            return queryset
        return queryset.filter(**{f"{self.store_field}__in": store_ids})

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404
        return obj

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if user_store_ids(user=request.user) is None:
            return filters
        # A store filter would list every store's name; a manager only has their own.
        return [f for f in filters if f not in ("store", "primary_store")]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        store_ids = user_store_ids(user=request.user)
        if store_ids is not None:
            if db_field.related_model is Store:
                kwargs["queryset"] = Store.objects.filter(pk__in=store_ids)
            elif hasattr(db_field.related_model, "store"):
                kwargs["queryset"] = db_field.related_model._default_manager.filter(store__in=store_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
