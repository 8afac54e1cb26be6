"""The sidebar's coupon routes, under /api/v1/sidebar/."""

from django.urls import path

from coupons.sidebar_apis import SidebarCouponsApi, SidebarPackSendApi

urlpatterns = [
    path("customers/<int:customer_id>/coupons/", SidebarCouponsApi.as_view(), name="sidebar-customer-coupons"),
    path(
        "customers/<int:customer_id>/coupon-packs/<int:pack_id>/send/",
        SidebarPackSendApi.as_view(),
        name="sidebar-customer-coupon-pack-send",
    ),
]
