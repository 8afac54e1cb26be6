"""The brand's OMS or a store's POS says a BOPIS order is ready for pickup: `POST /api/v1/pickups/ready`.

The order is named by its channel and number (the key's channel when `channel` is left out) or by its pickup code;
`store_code` is the store where it waits, within the key's stores. The first call makes it ready (201); the same
call again answers the same pickup with `replayed: true` (200) and sends nothing. Errors: `unknown_store`,
`store_not_allowed`, `unknown_order`, `not_store_pickup`, `pickup_unavailable`, `wrong_store`, `already_collected`,
`pickup_closed`.
"""

import logging

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.apis import ApiKeyAuthentication, HasApiKeyScope
from customers.ingestion import Scope
from customers.models import ApiKey, Channel
from fulfilment.bopis import PickupReady, bopis_pickup_ready
from fulfilment.models import Pickup
from fulfilment.tasks import bopis_ready_message_later
from omni.openapi import error_responses
from omni.throttling import ApiKeyRequestThrottle

logger = logging.getLogger(__name__)


class PickupOut(serializers.Serializer):
    code = serializers.CharField(help_text="The till's pickup code")
    status = serializers.ChoiceField(choices=Pickup.Status.choices)
    store_code = serializers.CharField(source="store.code")
    channel = serializers.CharField(source="order.channel")
    external_id = serializers.CharField(source="order.external_id")
    associate = serializers.CharField(source="associate.wecom_userid", allow_null=True, default=None)
    ready_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField()


class PickupReadyOut(serializers.Serializer):
    pickup = PickupOut()
    replayed = serializers.BooleanField(help_text="It was ready already: nothing was done again")


class PickupReadyApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    throttle_classes = [ApiKeyRequestThrottle]
    throttle_scope = "ingest"
    required_scope = ApiKey.Scope.ORDERS

    @extend_schema_serializer(component_name="PickupReadyIn")
    class InputSerializer(serializers.Serializer):
        store_code = serializers.CharField(max_length=32, help_text="The store where the order waits")
        # A plain string in the schema: the channels' enum already has a name there, for the ingestion API.
        channel = serializers.CharField(
            max_length=20,
            required=False,
            help_text=f"The order's channel ({', '.join(Channel.values)}); the key's when left out",
        )
        external_id = serializers.CharField(max_length=64, required=False, help_text="The order's number")
        code = serializers.CharField(max_length=16, required=False, help_text="Or the pickup code")
        request_id = serializers.CharField(max_length=64, help_text="The caller's request number, logged")

        def validate_channel(self, value: str) -> str:
            if value not in Channel.values:
                raise serializers.ValidationError(f"Unknown channel; one of {', '.join(Channel.values)}.")
            return value

        def validate(self, attrs):
            if bool(attrs.get("external_id")) == bool(attrs.get("code")):
                raise serializers.ValidationError("Name the order by external_id or by its pickup code, not both.")
            return attrs

    @extend_schema(
        operation_id="pickup_ready",
        summary="A BOPIS order is ready for pickup in store: the associate gets a task, the customer a message",
        request=InputSerializer,
        responses={200: PickupReadyOut, 201: PickupReadyOut, **error_responses(404, 409)},
        tags=["pickups"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        ready: PickupReady = bopis_pickup_ready(
            store_code=fields["store_code"],
            channel=fields.get("channel") or request.auth.channel,
            external_id=fields.get("external_id", ""),
            code=fields.get("code", ""),
            store_ids=Scope.of(request.auth).store_ids,
            send_later=bopis_ready_message_later,
        )
        logger.info("pickup %s ready (request %s, replayed %s)", ready.pickup.pk, fields["request_id"], ready.replayed)
        body = PickupReadyOut({"pickup": ready.pickup, "replayed": ready.replayed}).data
        return Response(body, status=200 if ready.replayed else 201)
