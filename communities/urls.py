"""Community invites: store customer groups, join ways, invite posters, who joined through whom."""

from django.urls import path

from communities.apis import SidebarCommunityApi, SidebarCommunityInviteApi
from communities.views import workbench_community_invite

urlpatterns = [
    path(
        "api/v1/sidebar/customers/<int:customer_id>/community/",
        SidebarCommunityApi.as_view(),
        name="sidebar-customer-community",
    ),
    path(
        "api/v1/sidebar/customers/<int:customer_id>/community/invite/",
        SidebarCommunityInviteApi.as_view(),
        name="sidebar-customer-community-invite",
    ),
    path("workbench/community/invite/", workbench_community_invite, name="workbench-community-invite"),
]
