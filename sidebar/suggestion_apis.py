"""The sidebar's suggestion API (/api/v1/sidebar/…): what to offer a customer, add-ons for given products,
and recording a product sent in chat. Authentication and the 404 for a customer the associate may not see are
the sidebar's (`sidebar.base.SidebarApi`); responses are built by hand like the other sidebar reads, and
the serializers below document them."""

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clientbook.followups import follow_up_tasks_close_by_send
from clientbook.models import FollowUpTask
from customers.budget import marketing_contact_charge
from customers.models import ContactTouch
from omni.openapi import error_responses
from sidebar.base import SidebarApi, moment_json, money_json
from suggestions import engine
from suggestions.models import Outreach
from suggestions.selectors import Suggestions, addons_for, customer_suggestions
from suggestions.services import outreach_record

SUGGESTIONS_SHOWN = 6
MAX_ADDON_SKUS = 20


class SuggestionOut(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    image_url = serializers.CharField(allow_blank=True)
    category = serializers.CharField(allow_blank=True)
    store_stock = serializers.IntegerField(help_text="Units at the associate's store")
    online_stock = serializers.IntegerField(allow_null=True, help_text="Units sellable online; null: not sold online")
    reason = serializers.ChoiceField(choices=[reason.value for reason in engine.Reason])
    reason_text = serializers.CharField(help_text="The reason in words, e.g. 常与 真丝连衣裙 黑色 M 一起购买")


class SuggestionsOut(serializers.Serializer):
    suggestions = SuggestionOut(many=True)
    model_built_at = serializers.DateTimeField(
        allow_null=True, help_text="When the model was built; null before the first build (recent best sellers)"
    )


def _suggestions_json(result: Suggestions) -> dict:
    return {
        "suggestions": [
            {
                "sku": product.sku,
                "name": product.name,
                "price": money_json(product.price),
                "image_url": product.image_url,
                "category": product.category,
                "store_stock": product.store_stock,
                "online_stock": product.online_stock,
                "reason": product.reason,
                "reason_text": product.reason_text,
            }
            for product in result.products
        ],
        "model_built_at": moment_json(result.model_built_at),
    }


class SidebarSuggestionsApi(SidebarApi):
    @extend_schema(operation_id="sidebar_customer_suggestions_list", responses=SuggestionsOut, tags=["sidebar"])
    def get(self, request, customer_id: int):
        customer = self.head(request, customer_id)
        result = customer_suggestions(customer_id=customer.pk, associate=request.user, k=SUGGESTIONS_SHOWN)
        return Response(_suggestions_json(result))


class AddonsIn(serializers.Serializer):
    sku = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=MAX_ADDON_SKUS, allow_empty=False
    )


class SidebarAddonsApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_addons_list",
        parameters=[
            OpenApiParameter(
                "sku",
                OpenApiTypes.STR,
                many=True,
                required=True,
                description=f"The products the customer asks about: ?sku=A&sku=B, at most {MAX_ADDON_SKUS}",
            )
        ],
        responses=SuggestionsOut,
        tags=["sidebar"],
    )
    def get(self, request):
        data = AddonsIn(data={"sku": request.query_params.getlist("sku")})
        data.is_valid(raise_exception=True)
        result = addons_for(skus=data.validated_data["sku"], associate=request.user, k=SUGGESTIONS_SHOWN)
        return Response(_suggestions_json(result))


class OutreachIn(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    source = serializers.ChoiceField(choices=Outreach.Source.choices)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    request_id = serializers.UUIDField(
        help_text="Made by the client once per send; a retry with it records nothing new"
    )


class OutreachOut(serializers.Serializer):
    id = serializers.IntegerField()


class SidebarOutreachApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_customer_outreach_record",
        request=OutreachIn,
        responses={201: OutreachOut, 200: OutreachOut, **error_responses(409)},
        tags=["sidebar"],
        description="Record that the associate sent the product to the customer in chat (201; a retry: 200).",
    )
    def post(self, request, customer_id: int):
        data = OutreachIn(data=request.data)
        data.is_valid(raise_exception=True)
        # A product card is marketing: refused for an opted-out customer, charged to the week's contact budget (the
        # record first: it answers 404 for a customer the associate may not see; a refusal undoes it).
        with transaction.atomic():
            recorded = outreach_record(associate=request.user, customer_id=customer_id, **data.validated_data)
            marketing_contact_charge(
                customer_id=recorded.outreach.customer_id,
                associate=request.user,
                channel=ContactTouch.Channel.PRODUCT,
                key=f"sidebar_product:{data.validated_data['request_id']}",
            )
        follow_up_tasks_close_by_send(
            associate=request.user,
            customer_id=recorded.outreach.customer_id,
            action=FollowUpTask.Action.SEND_PRODUCT,
            note=f"从侧边栏发送商品 {data.validated_data['sku']}",
        )
        return Response({"id": recorded.outreach.pk}, status=201 if recorded.created else 200)
