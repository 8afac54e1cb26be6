"""The suggestion endpoints of the sidebar JSON API, under /api/v1/sidebar/."""

from django.urls import path

from suggestions.apis import SidebarAddonsApi, SidebarOutreachApi, SidebarSuggestionsApi

urlpatterns = [
    path(
        "customers/<int:customer_id>/suggestions/",
        SidebarSuggestionsApi.as_view(),
        name="sidebar-customer-suggestions",
    ),
    path("customers/<int:customer_id>/outreach/", SidebarOutreachApi.as_view(), name="sidebar-customer-outreach"),
    path("addons/", SidebarAddonsApi.as_view(), name="sidebar-addons"),
]
