"""The associate's pages: the chat sidebar (/sidebar/) and the workbench (/workbench/)."""

from django.urls import path

from sidebar.appointment_views import workbench_appointment_mark, workbench_appointments
from sidebar.task_views import workbench_customer, workbench_task, workbench_tasks
from sidebar.views import my_month, sidebar, sidebar_contact, store_month, workbench, workbench_community_invite

urlpatterns = [
    path("sidebar/", sidebar, name="sidebar"),
    path("sidebar/contact/", sidebar_contact, name="sidebar-contact"),
    path("workbench/", workbench, name="workbench"),
    path("workbench/community/invite/", workbench_community_invite, name="workbench-community-invite"),
    path("workbench/month/", my_month, name="workbench-month"),
    path("workbench/month/<int:associate_id>/", my_month, name="workbench-month-associate"),
    path("workbench/store/", store_month, name="workbench-store"),
    path("workbench/tasks/", workbench_tasks, name="workbench-tasks"),
    path("workbench/tasks/<int:task_id>/", workbench_task, name="workbench-task"),
    path("workbench/customers/<int:customer_id>/", workbench_customer, name="workbench-customer"),
    path("workbench/appointments/", workbench_appointments, name="workbench-appointments"),
    path(
        "workbench/appointments/<int:appointment_id>/mark/",
        workbench_appointment_mark,
        name="workbench-appointment-mark",
    ),
]
