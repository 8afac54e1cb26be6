"""The coupon API for brand systems (POS, mini-program, mall), under /api/v1/coupons/."""

from django.urls import path

from coupons.apis import CouponRedeemApi, CouponReturnApi, CouponValidateApi

urlpatterns = [
    path("validate/", CouponValidateApi.as_view(), name="coupon-validate"),
    path("redeem/", CouponRedeemApi.as_view(), name="coupon-redeem"),
    path("return/", CouponReturnApi.as_view(), name="coupon-return"),
]
