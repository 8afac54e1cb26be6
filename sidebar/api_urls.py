"""The sidebar JSON API, under /api/v1/sidebar/: the customer's profile and book, coupons, suggestions, community."""

from django.urls import path

from sidebar.appointment_apis import (
    SidebarAppointmentLinkApi,
    SidebarAppointmentRescheduleApi,
    SidebarAppointmentsApi,
    SidebarAppointmentStatusApi,
)
from sidebar.community_apis import SidebarCommunityApi, SidebarCommunityInviteApi
from sidebar.consent_apis import SidebarContactBudgetApi, SidebarContactOverrideApi, SidebarOptOutApi
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
from sidebar.draft_apis import SidebarDraftsApi
from sidebar.first_screen_apis import SidebarFirstScreenApi
from sidebar.hold_apis import SidebarAvailabilityApi, SidebarHoldCancelApi, SidebarHoldsApi
from sidebar.library_apis import (
    SidebarMaterialContentApi,
    SidebarMaterialsApi,
    SidebarMaterialSendApi,
    SidebarMyRepliesApi,
    SidebarMyReplyApi,
    SidebarRepliesApi,
    SidebarReplySendApi,
)
from sidebar.notice_apis import SidebarNoticePreferenceApi
from sidebar.product_apis import SidebarProductSearchApi
from sidebar.return_apis import SidebarReturnableOrdersApi
from sidebar.suggestion_apis import SidebarAddonsApi, SidebarOutreachApi, SidebarSuggestionsApi
from sidebar.tag_apis import SidebarTagPickerApi
from sidebar.task_apis import SidebarTaskApi, SidebarTaskReassignApi, SidebarTaskSnoozeApi
from sidebar.timeline_apis import SidebarTimelineApi

urlpatterns = [
    path("first-screen/", SidebarFirstScreenApi.as_view(), name="sidebar-first-screen"),
    path("customers/<int:customer_id>/", SidebarCustomerApi.as_view(), name="sidebar-customer"),
    path("customers/<int:customer_id>/orders/", SidebarOrdersApi.as_view(), name="sidebar-customer-orders"),
    path(
        "customers/<int:customer_id>/returnable/",
        SidebarReturnableOrdersApi.as_view(),
        name="sidebar-customer-returnable",
    ),
    path("customers/<int:customer_id>/notes/", SidebarNoteApi.as_view(), name="sidebar-customer-notes"),
    path("customers/<int:customer_id>/tags/", SidebarTagApi.as_view(), name="sidebar-customer-tags"),
    path("customers/<int:customer_id>/tag-picker/", SidebarTagPickerApi.as_view(), name="sidebar-customer-tag-picker"),
    path("customers/<int:customer_id>/tasks/", SidebarTasksApi.as_view(), name="sidebar-customer-tasks"),
    path("customers/<int:customer_id>/link/", SidebarLinkApi.as_view(), name="sidebar-customer-link"),
    path("tasks/<int:task_id>/done/", SidebarTaskDoneApi.as_view(), name="sidebar-task-done"),
    path("tasks/<int:task_id>/", SidebarTaskApi.as_view(), name="sidebar-task"),
    path("notices/preference/", SidebarNoticePreferenceApi.as_view(), name="sidebar-notice-preference"),
    path("tasks/<int:task_id>/snooze/", SidebarTaskSnoozeApi.as_view(), name="sidebar-task-snooze"),
    path("tasks/<int:task_id>/reassign/", SidebarTaskReassignApi.as_view(), name="sidebar-task-reassign"),
    path(
        "customers/<int:customer_id>/suggestions/",
        SidebarSuggestionsApi.as_view(),
        name="sidebar-customer-suggestions",
    ),
    path("customers/<int:customer_id>/outreach/", SidebarOutreachApi.as_view(), name="sidebar-customer-outreach"),
    path("addons/", SidebarAddonsApi.as_view(), name="sidebar-addons"),
    path("products/", SidebarProductSearchApi.as_view(), name="sidebar-products"),
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
    path("customers/<int:customer_id>/timeline/", SidebarTimelineApi.as_view(), name="sidebar-customer-timeline"),
    path("customers/<int:customer_id>/replies/", SidebarRepliesApi.as_view(), name="sidebar-customer-replies"),
    path(
        "customers/<int:customer_id>/replies/<int:reply_id>/send/",
        SidebarReplySendApi.as_view(),
        name="sidebar-customer-reply-send",
    ),
    path("replies/", SidebarMyRepliesApi.as_view(), name="sidebar-replies"),
    path("replies/<int:reply_id>/", SidebarMyReplyApi.as_view(), name="sidebar-reply"),
    path("customers/<int:customer_id>/materials/", SidebarMaterialsApi.as_view(), name="sidebar-customer-materials"),
    path(
        "customers/<int:customer_id>/materials/<int:material_id>/send/",
        SidebarMaterialSendApi.as_view(),
        name="sidebar-customer-material-send",
    ),
    path("materials/<int:material_id>/content/", SidebarMaterialContentApi.as_view(), name="sidebar-material-content"),
    path(
        "customers/<int:customer_id>/contact-budget/",
        SidebarContactBudgetApi.as_view(),
        name="sidebar-customer-contact-budget",
    ),
    path(
        "customers/<int:customer_id>/contact-budget/override/",
        SidebarContactOverrideApi.as_view(),
        name="sidebar-customer-contact-budget-override",
    ),
    path("customers/<int:customer_id>/opt-out/", SidebarOptOutApi.as_view(), name="sidebar-customer-opt-out"),
    path("drafts/", SidebarDraftsApi.as_view(), name="sidebar-drafts"),
    path(
        "customers/<int:customer_id>/appointments/",
        SidebarAppointmentsApi.as_view(),
        name="sidebar-customer-appointments",
    ),
    path(
        "customers/<int:customer_id>/appointments/link/",
        SidebarAppointmentLinkApi.as_view(),
        name="sidebar-customer-appointment-link",
    ),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        SidebarAppointmentRescheduleApi.as_view(),
        name="sidebar-appointment-reschedule",
    ),
    path(
        "appointments/<int:appointment_id>/status/",
        SidebarAppointmentStatusApi.as_view(),
        name="sidebar-appointment-status",
    ),
    path("products/<str:sku>/availability/", SidebarAvailabilityApi.as_view(), name="sidebar-product-availability"),
    path("customers/<int:customer_id>/holds/", SidebarHoldsApi.as_view(), name="sidebar-customer-holds"),
    path("holds/<int:hold_id>/cancel/", SidebarHoldCancelApi.as_view(), name="sidebar-hold-cancel"),
]
