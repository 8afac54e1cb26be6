"""The pickups API for the brand's POS and OMS, under /api/v1/pickups/ (`fulfilment.till`): a store's open holds and
pickups, confirm, refuse, and the till's collect by pickup code.

Authentication: `Authorization: Api-Key <prefix>.<secret>` with the `pickups` scope (403 `scope_missing`); a key
limited to stores acts for those stores only (403 `store_not_allowed`). Unknown pickup codes count against the key
as unknown coupon codes do (the till's code-guessing throttle).
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from coupons.till_api import CODE_GUESS_FAILURES, CODE_GUESS_SCOPE, till_failure_record
from customers.apis import ApiKeyAuthentication, HasApiKeyScope
from customers.models import ApiKey
from fulfilment.models import Pickup
from fulfilment.till import (
    Collected,
    SaleLineIn,
    pickup_collect,
    pickup_confirm,
    pickup_refuse,
    pickups_open_list,
)
from omni.errors import ApplicationError
from omni.openapi import error_responses
from omni.throttling import ApiKeyRequestThrottle, FailureThrottle, api_key_ident


def _moment(value) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def pickup_json(pickup: Pickup) -> dict:
    return {
        "code": pickup.code,
        "kind": pickup.kind,
        "status": pickup.status,
        "store": pickup.store.code,
        "customer": {"id": pickup.customer_id, "name": pickup.customer.name, "phone": pickup.customer.phone},
        "associate": pickup.associate.wecom_userid if pickup.associate_id else None,
        "order": pickup.order.external_id if pickup.order_id else None,
        "lines": [
            {"sku": line.product.sku, "name": line.product.name, "size": line.product.size, "quantity": line.quantity}
            for line in pickup.lines.all()
        ],
        "expires_at": _moment(pickup.expires_at),
        "confirmed_at": _moment(pickup.confirmed_at),
        "closed_at": _moment(pickup.closed_at),
        "created_at": _moment(pickup.created_at),
    }


class PickupLineOut(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    size = serializers.CharField(allow_blank=True)
    quantity = serializers.IntegerField()


class PickupOut(serializers.Serializer):
    code = serializers.CharField(help_text="The pickup code the customer shows and the till scans")
    kind = serializers.ChoiceField(choices=Pickup.Kind.choices)
    status = serializers.ChoiceField(choices=Pickup.Status.choices)
    store = serializers.CharField(help_text="Store code where it waits")
    customer = serializers.DictField(help_text="{id, name, phone}")
    associate = serializers.CharField(allow_null=True, help_text="WeCom userid of the associate who held it")
    order = serializers.CharField(allow_null=True, help_text="External id of the order (BOPIS, or the sale)")
    lines = PickupLineOut(many=True)
    expires_at = serializers.DateTimeField()
    confirmed_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class PickupListOut(serializers.Serializer):
    pickups = PickupOut(many=True)


class PickupsApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    throttle_classes = [ApiKeyRequestThrottle]
    throttle_scope = "ingest"
    required_scope = ApiKey.Scope.PICKUPS

    def handle_exception(self, exc):
        api_key = self.request.auth
        if isinstance(exc, ApplicationError) and exc.code in CODE_GUESS_FAILURES and isinstance(api_key, ApiKey):
            till_failure_record(api_key=api_key)
        return super().handle_exception(exc)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        FailureThrottle(CODE_GUESS_SCOPE).check(api_key_ident(request.auth.pk))


class PickupListApi(PickupsApi):
    @extend_schema(
        operation_id="pickups_open_list",
        summary="A store's open holds and pickups, soonest to expire first",
        parameters=[
            OpenApiParameter("store", str, required=True, description="Store code"),
            OpenApiParameter("kind", str, enum=Pickup.Kind.values, description="hold or order; default both"),
        ],
        responses={200: PickupListOut, **error_responses(403, 404)},
        tags=["pickups"],
    )
    def get(self, request):
        kind = request.query_params.get("kind", "")
        if kind and kind not in Pickup.Kind.values:
            raise ApplicationError("invalid_kind", "kind 只能是 hold 或 order。", details={"kind": kind})
        pickups = pickups_open_list(api_key=request.auth, store_code=request.query_params.get("store", ""), kind=kind)
        return Response({"pickups": [pickup_json(p) for p in pickups]})


class RefuseIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class PickupConfirmApi(PickupsApi):
    @extend_schema(
        operation_id="pickups_confirm",
        summary="The store has set the items aside (idempotent)",
        request=None,
        responses={200: PickupOut, **error_responses(403, 404, 409)},
        tags=["pickups"],
    )
    def post(self, request, code: str):
        return Response(pickup_json(pickup_confirm(api_key=request.auth, code=code)))


class PickupRefuseApi(PickupsApi):
    @extend_schema(
        operation_id="pickups_refuse",
        summary="The store cannot keep it: units released, the associate told (idempotent)",
        request=RefuseIn,
        responses={200: PickupOut, **error_responses(403, 404, 409)},
        tags=["pickups"],
    )
    def post(self, request, code: str):
        data = RefuseIn(data=request.data)
        data.is_valid(raise_exception=True)
        pickup = pickup_refuse(api_key=request.auth, code=code, reason=data.validated_data["reason"])
        return Response(pickup_json(pickup))


class SaleLineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=999)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)


class CollectIn(serializers.Serializer):
    store = serializers.CharField(max_length=32, help_text="The till's store code")
    code = serializers.CharField(max_length=32, help_text="The pickup code scanned")
    request_id = serializers.CharField(max_length=64, help_text="The till's request number: a replay changes nothing")
    order = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="External id of the POS sale, if any"
    )
    lines = SaleLineSerializer(
        many=True, required=False, max_length=50, help_text="The sale's lines; default: the hold's"
    )
    coupon = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default="", help_text="A coupon to redeem on this sale"
    )


class CollectOut(serializers.Serializer):
    pickup = PickupOut()
    order = serializers.DictField(help_text="{external_id, total_amount, store}")
    credited = serializers.DictField(help_text="{associate, store}: to whom the sale is credited")
    coupon = serializers.DictField(allow_null=True, help_text="{code, discount} when a coupon was redeemed")
    replayed = serializers.BooleanField()


def collect_json(collected: Collected) -> dict:
    pickup, order = collected.pickup, collected.order
    redemption = collected.coupon.redemption if collected.coupon else None
    return {
        "pickup": pickup_json(pickup),
        "order": {
            "external_id": order.external_id,
            "total_amount": f"{order.total_amount:.2f}",
            "store": pickup.store.code,
        },
        "credited": {
            "associate": pickup.associate.wecom_userid if pickup.associate_id else None,
            "store": pickup.store.code,
        },
        "coupon": ({"code": redemption.coupon.code, "discount": f"{redemption.discount:.2f}"} if redemption else None),
        "replayed": not collected.created,
    }


class PickupCollectApi(PickupsApi):
    @extend_schema(
        operation_id="pickups_collect",
        summary="The till scans a pickup code: the hold or order is collected and the sale credited",
        request=CollectIn,
        responses={201: CollectOut, 200: CollectOut, **error_responses(403, 404, 409)},
        tags=["pickups"],
    )
    def post(self, request):
        data = CollectIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        lines = [SaleLineIn(**line) for line in fields.get("lines", [])] or None
        collected = pickup_collect(
            api_key=request.auth,
            store_code=fields["store"],
            code=fields["code"],
            request_id=fields["request_id"],
            order_external_id=fields["order"],
            lines=lines,
            coupon_code=fields["coupon"],
        )
        return Response(collect_json(collected), status=201 if collected.created else 200)
