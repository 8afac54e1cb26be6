"""The sidebar JSON API, under /api/v1/sidebar/: the customer's profile and book, coupons, suggestions, community."""

from django.urls import path

from sidebar.community_apis import SidebarCommunityApi, SidebarCommunityInviteApi
from sidebar.coupon_apis import SidebarCouponsApi, SidebarPackSendApi
from sidebar.customer_apis import (
    SidebarCustomerApi,
    SidebarLinkApi,
    SidebarNoteApi,
    SidebarOrdersApi,
    SidebarTagApi,
    SidebarTaskDoneApi,
    SidebarTasksApi,
)
from sidebar.first_screen_apis import SidebarFirstScreenApi
from sidebar.suggestion_apis import SidebarAddonsApi, SidebarOutreachApi, SidebarSuggestionsApi

urlpatterns = [
    path("first-screen/", SidebarFirstScreenApi.as_view(), name="sidebar-first-screen"),
    path("customers/<int:customer_id>/", SidebarCustomerApi.as_view(), name="sidebar-customer"),
    path("customers/<int:customer_id>/orders/", SidebarOrdersApi.as_view(), name="sidebar-customer-orders"),
    path("customers/<int:customer_id>/notes/", SidebarNoteApi.as_view(), name="sidebar-customer-notes"),
    path("customers/<int:customer_id>/tags/", SidebarTagApi.as_view(), name="sidebar-customer-tags"),
    path("customers/<int:customer_id>/tasks/", SidebarTasksApi.as_view(), name="sidebar-customer-tasks"),
    path("customers/<int:customer_id>/link/", SidebarLinkApi.as_view(), name="sidebar-customer-link"),
    path("tasks/<int:task_id>/done/", SidebarTaskDoneApi.as_view(), name="sidebar-task-done"),
    path(
        "customers/<int:customer_id>/suggestions/",
        SidebarSuggestionsApi.as_view(),
        name="sidebar-customer-suggestions",
    ),
    path("customers/<int:customer_id>/outreach/", SidebarOutreachApi.as_view(), name="sidebar-customer-outreach"),
    path("addons/", SidebarAddonsApi.as_view(), name="sidebar-addons"),
    path("customers/<int:customer_id>/coupons/", SidebarCouponsApi.as_view(), name="sidebar-customer-coupons"),
    path(
        "customers/<int:customer_id>/coupon-packs/<int:pack_id>/send/",
        SidebarPackSendApi.as_view(),
        name="sidebar-customer-coupon-pack-send",
    ),
    path("customers/<int:customer_id>/community/", SidebarCommunityApi.as_view(), name="sidebar-customer-community"),
    path(
        "customers/<int:customer_id>/community/invite/",
        SidebarCommunityInviteApi.as_view(),
        name="sidebar-customer-community-invite",
    ),
]
