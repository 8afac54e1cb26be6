"""The sidebar's first screen in one call (/api/v1/sidebar/first-screen/?external_userid=…): who the chat's contact
is and what she bought, so a phone shows both after one round trip once the JS-SDK has named the contact.

It resolves the contact as /sidebar/contact/ does (a contact the associate may not see answers 404 exactly like one
that does not exist, as every sidebar API does) and answers the profile (as customers/<id>/, written to the audit
log), the first page of purchases (as customers/<id>/orders/) and the coupons she can use now. Everything else the
page shows (suggestions, packs, community, tasks, the other panels) is asked for after it.
"""

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from omni.openapi import error_responses
from sidebar.base import SidebarApi
from sidebar.contacts import sidebar_contact_customer, sidebar_contact_json
from sidebar.coupon_apis import HeldCouponOut, _coupon_json
from sidebar.coupon_offers import sidebar_customer_coupons
from sidebar.customer_apis import OrdersPageOut, SidebarProfileOut, orders_page_json, profile_json


class ContactOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="The customer's id, for the other sidebar APIs")
    external_userid = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)
    store = serializers.CharField(allow_blank=True)
    avatar = serializers.CharField(allow_blank=True)


class FirstScreenOut(serializers.Serializer):
    contact = ContactOut()
    profile = SidebarProfileOut()
    orders = OrdersPageOut(help_text="The first page of purchases, newest first")
    coupons = HeldCouponOut(many=True, help_text="The coupons she can use now, soonest to expire first")


class SidebarFirstScreenApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_first_screen_get",
        parameters=[OpenApiParameter("external_userid", str, required=True, description="From getCurExternalContact")],
        responses={200: FirstScreenOut, **error_responses(404, 503)},
        tags=["sidebar"],
    )
    def get(self, request):
        external_userid = request.query_params.get("external_userid", "")
        customer = sidebar_contact_customer(associate=request.user, external_userid=external_userid)
        if customer is None:
            raise Http404
        now = timezone.now()
        return Response(
            {
                "contact": {**sidebar_contact_json(customer), "external_userid": external_userid},
                "profile": profile_json(self, request, customer.pk),
                "orders": orders_page_json(customer_id=customer.pk, page=1),
                "coupons": [
                    _coupon_json(coupon, now)
                    for coupon in sidebar_customer_coupons(customer_id=customer.pk, now=now)
                    if coupon.usable_at(now)
                ],
            }
        )
