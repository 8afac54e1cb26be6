"""The brand's systems (mini-program, mall) ask for a member's own code (`POST /api/v1/members/code`): the nearest
store's code for one member, whose `state` names the member, so that adding the associate through it links the One
ID customer at once (clientbook.codes.code_member_way). ApiKey-authenticated with the members scope, as the
ingestion API (customers.apis); a key limited to stores gets codes for its stores' customers only."""

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clientbook.codes import code_member_way
from customers.apis import ApiKeyAuthentication, HasApiKeyScope, IdentityIn
from customers.ingestion import Scope
from customers.models import ApiKey, Identity
from customers.selectors import customer_survivor
from customers.services import identity_normalize
from omni.errors import ApplicationError
from omni.openapi import error_responses
from omni.throttling import ApiKeyRequestThrottle
from wecom.client import WeComError


class MemberCodeStoreOut(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class MemberCodeAssociateOut(serializers.Serializer):
    userid = serializers.CharField(source="wecom_userid", help_text="The associate's WeCom userid")
    name = serializers.CharField()


class MemberCodeOut(serializers.Serializer):
    state = serializers.CharField(help_text="The code's state: names the member when she adds through it")
    qr_code = serializers.CharField(help_text="URL of the QR code image (WeCom's)")
    config_id = serializers.CharField(help_text="WeCom's config_id of the code")
    store = MemberCodeStoreOut()
    associate = MemberCodeAssociateOut()


def _error_example(code: str, status_code: int, message: str) -> OpenApiExample:
    return OpenApiExample(
        code, value={"error": {"code": code, "message": message}}, response_only=True, status_codes=[str(status_code)]
    )


class MemberCodeApi(APIView):
    """A member's own code, made once and returned again on every later call."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    throttle_classes = [ApiKeyRequestThrottle]
    throttle_scope = "ingest"
    required_scope = ApiKey.Scope.MEMBERS

    @extend_schema_serializer(component_name="MemberCodeIn")
    class InputSerializer(serializers.Serializer):
        identity = IdentityIn(help_text="Who: any identity One ID knows the member by")
        latitude = serializers.FloatField(
            min_value=-90, max_value=90, required=False, allow_null=True, help_text="Where she is (WGS-84)"
        )
        longitude = serializers.FloatField(
            min_value=-180, max_value=180, required=False, allow_null=True, help_text="With latitude"
        )

    @extend_schema(
        operation_id="member_code_get",
        summary="A member's own code: the nearest store's associate, linked to her One ID when she adds",
        description=(
            "Without a location the code is her primary store's (or the first store with a store code). The same "
            "member gets the same code on every call. 409 `no_store_code` when the store has no store code, "
            "`no_associates` when no associate answers it, `member_code_deleted` when her code was deleted; 502 "
            "`wecom_unavailable` when WeCom did not make the code."
        ),
        request=InputSerializer,
        responses={200: MemberCodeOut, **error_responses(404, 409, 502)},
        examples=[
            _error_example("location_incomplete", 400, "Send latitude and longitude together, or neither."),
            _error_example("customer_not_found", 404, "No customer has this identity."),
            _error_example("store_not_allowed", 403, "This key may not get codes for customers of other stores."),
            _error_example("no_store_code", 409, "附近门店还没有门店码。"),
            _error_example("no_associates", 409, "附近门店暂时没有可接待的导购。"),
            _error_example("wecom_unavailable", 502, "企业微信未能生成二维码，请稍后重试。"),
        ],
        tags=["members"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if (values.get("latitude") is None) != (values.get("longitude") is None):
            raise ApplicationError("location_incomplete", "Send latitude and longitude together, or neither.")
        kind = values["identity"]["kind"]
        value = identity_normalize(kind=kind, value=values["identity"]["value"])
        owner = Identity.objects.filter(kind=kind, value=value).values("customer_id").first()
        customer = customer_survivor(customer_id=owner["customer_id"]) if owner else None
        if customer is None:
            raise ApplicationError("customer_not_found", "No customer has this identity.", status_code=404)
        store_ids = Scope.of(request.auth).store_ids
        if store_ids is not None and customer.primary_store_id not in store_ids:
            raise ApplicationError(
                "store_not_allowed", "This key may not get codes for customers of other stores.", status_code=403
            )
        try:
            code = code_member_way(
                customer=customer, latitude=values.get("latitude"), longitude=values.get("longitude")
            )
        except WeComError as exc:
            raise ApplicationError(
                "wecom_unavailable",
                "企业微信未能生成二维码，请稍后重试。",
                details={"errcode": exc.errcode},
                status_code=502,
            ) from exc
        return Response(
            MemberCodeOut(
                {
                    "state": code.state,
                    "qr_code": code.qr_code,
                    "config_id": code.config_id,
                    "store": code.store,
                    "associate": code.associate,
                }
            ).data
        )
