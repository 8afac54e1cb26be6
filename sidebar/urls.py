"""The associate's pages: the chat sidebar (/sidebar/) and the workbench (/workbench/)."""

from django.urls import path

from sidebar.views import sidebar, sidebar_contact, workbench, workbench_community_invite

urlpatterns = [
    path("sidebar/", sidebar, name="sidebar"),
    path("sidebar/contact/", sidebar_contact, name="sidebar-contact"),
    path("workbench/", workbench, name="workbench"),
    path("workbench/community/invite/", workbench_community_invite, name="workbench-community-invite"),
]
