"""The sidebar JSON API, under /api/v1/sidebar/."""

from django.urls import path

from associates.apis import (
    SidebarCustomerApi,
    SidebarLinkApi,
    SidebarNoteApi,
    SidebarOrdersApi,
    SidebarTagApi,
    SidebarTaskDoneApi,
    SidebarTasksApi,
)

urlpatterns = [
    path("customers/<int:customer_id>/", SidebarCustomerApi.as_view(), name="sidebar-customer"),
    path("customers/<int:customer_id>/orders/", SidebarOrdersApi.as_view(), name="sidebar-customer-orders"),
    path("customers/<int:customer_id>/notes/", SidebarNoteApi.as_view(), name="sidebar-customer-notes"),
    path("customers/<int:customer_id>/tags/", SidebarTagApi.as_view(), name="sidebar-customer-tags"),
    path("customers/<int:customer_id>/tasks/", SidebarTasksApi.as_view(), name="sidebar-customer-tasks"),
    path("customers/<int:customer_id>/link/", SidebarLinkApi.as_view(), name="sidebar-customer-link"),
    path("tasks/<int:task_id>/done/", SidebarTaskDoneApi.as_view(), name="sidebar-task-done"),
]
