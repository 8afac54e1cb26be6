"""The customer's coupon page and coupon images, under /c/ (the signed link of `coupons.links`)."""

from django.urls import path

from coupons.views import coupon_image, coupon_page, coupon_unsubscribe

urlpatterns = [
    path("<str:token>/", coupon_page, name="coupon-page"),
    path("<str:token>/unsubscribe/", coupon_unsubscribe, name="coupon-unsubscribe"),
    path("<str:token>/<str:code>.png", coupon_image, name="coupon-image"),
]
