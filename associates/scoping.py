"""Store scoping for Django admin: a store manager sees and edits only rows of their stores.

Scoping lives in one place, `StoreScopedAdmin.get_queryset`, because every admin view reads its rows from there:
the changelist, and through `get_object` the change, history and delete views, the custom views that look a row
up the same way (exports), actions (Django filters the selected ids through it) and autocomplete (Django searches
the remote model's admin queryset). A row outside the manager's stores answers 404 whether it exists or not, so
nothing leaks. Choices for foreign keys and many-to-many fields come from the related model's own admin
queryset, so a form never offers, nor accepts, another store's store, associate, customer or coupon pack.
"""

from weakref import WeakKeyDictionary

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from associates.models import Store
from associates.selectors import user_store_ids

# Each request's answer, held as long as the request is: admin asks from many hooks (the queryset, list filters,
# each relation's choices, permissions, actions) while rendering one page.
_REQUEST_STORE_IDS: WeakKeyDictionary[HttpRequest, frozenset[int] | None] = WeakKeyDictionary()


def request_store_ids(request: HttpRequest) -> frozenset[int] | None:
    """`user_store_ids` of the request's user, read once per request."""
    if request not in _REQUEST_STORE_IDS:
        _REQUEST_STORE_IDS[request] = user_store_ids(user=request.user)
    return _REQUEST_STORE_IDS[request]


class StoreScopedAdmin(admin.ModelAdmin):
    # The lookup from this model to its Store's pk, e.g. "store" or "primary_store" or "pk".
    store_field = "store"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        store_ids = request_store_ids(request)
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
        if request_store_ids(request) is None:
            return filters
        # A store filter would list every store's name; a manager only has their own.
        return [f for f in filters if f not in ("store", "primary_store")]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs and (choices := related_choices(self.admin_site, db_field, request)) is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs and (choices := related_choices(self.admin_site, db_field, request)) is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def related_choices(admin_site: admin.AdminSite, db_field, request) -> QuerySet | None:
    """The rows a store manager may pick for a relation: those the related model's admin shows them (None: every
    row, for HQ). A model without an admin is scoped by its store, when it has one."""
    store_ids = request_store_ids(request)
    if store_ids is None:
        return None
    related = db_field.related_model
    if admin_site.is_registered(related):
        related_admin = admin_site.get_model_admin(related)
        visible = related_admin.get_queryset(request).order_by().values("pk")
        choices = related._default_manager.filter(pk__in=visible)
        ordering = related_admin.get_ordering(request)
        return choices.order_by(*ordering) if ordering else choices
    if related is Store:
        return Store.objects.filter(pk__in=store_ids)
    if hasattr(related, "store"):
        return related._default_manager.filter(store__in=store_ids)
    return None
