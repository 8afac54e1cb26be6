"""Coupon API for brand systems (/api/v1/coupons/…): validate, redeem and return a coupon by its code.

Authentication: `Authorization: Api-Key <prefix>.<secret>` (customers.apis). A store POS key redeems at a till,
so `store` is required and, when the key is limited to stores, must be one of them; the keys of online channels
(mini-program, mall, marketplace) redeem online and ignore `store`. Every call needs the key's `coupons` scope
(403 `scope_missing`). The rules and their stable error codes live in coupons.redemption (redeeming in
coupons.till, the till's fast path of the redeem call in coupons.till_api); a replay of a request
number by the key that made it answers 200 with the first result and writes nothing, by any other key 409
`request_no_reused` and nothing of the first; a return touches only a redemption made at the key's stores and
through its channel.
"""

import dataclasses
from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from coupons.models import Channels, CouponTemplate
from coupons.redemption import Quote, coupon_by_code, coupon_quote, coupon_return
from coupons.refusals import REQUEST_NO_MAX
from coupons.till_api import (
    CODE_GUESS_FAILURES,
    CODE_GUESS_SCOPE,
    order_in,
    order_place,
    redeem,
    redeem_answer,
    redemption_body,
    redemption_shown,
)
from customers.apis import ApiKeyAuthentication, HasApiKeyScope
from customers.models import ApiKey
from omni.errors import ApplicationError
from omni.openapi import error_responses
from omni.throttling import ApiKeyFailureThrottle

ORDER_LINES_MAX = 500


# Input -----------------------------------------------------------------------------------------------------------


class LineIn(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.00"),
        help_text="What the line costs after its own discounts",
    )


class _OrderFieldsIn(serializers.Serializer):
    code = serializers.CharField(
        max_length=32, help_text="The coupon code as printed or scanned; spaces and dashes are ignored"
    )
    store = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        help_text="Store code of the till: required for a store POS key, ignored for online keys",
    )
    order_ref = serializers.CharField(max_length=64, help_text="The order number in the calling system")
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), help_text='Order amount in yuan, e.g. "399.00"'
    )
    lines = LineIn(
        many=True,
        required=False,
        max_length=ORDER_LINES_MAX,
        help_text="Order lines; required for coupons limited to categories or SKUs",
    )


# Output ----------------------------------------------------------------------------------------------------------


class CouponOut(serializers.Serializer):
    name = serializers.CharField(source="template.name")
    kind = serializers.ChoiceField(source="template.kind", choices=CouponTemplate.Kind.choices)
    rule_text = serializers.CharField(source="template.rule_text", help_text="The rule in words: 满300减50")
    stacking = serializers.ChoiceField(source="template.stacking", choices=CouponTemplate.Stacking.choices)
    channels = serializers.ChoiceField(source="template.channels", choices=Channels.choices)
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(help_text="The coupon cannot be used from this moment on")


class QuoteOut(serializers.Serializer):
    code = serializers.CharField(source="coupon.code")
    valid = serializers.SerializerMethodField()
    discount = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="Yuan off the order")
    gift_sku = serializers.CharField(allow_blank=True, help_text="SKU to hand over for a gift coupon, else empty")
    coupon = CouponOut()

    def get_valid(self, quote: Quote) -> bool:
        return True


class CreditedOut(serializers.Serializer):
    associate = serializers.CharField(
        source="credited_associate_userid",
        allow_null=True,
        help_text="WeCom userid of the associate who sent the coupon",
    )
    store = serializers.CharField(
        source="credited_store_code", allow_null=True, help_text="Code of the store that sent it"
    )


class _RedemptionOut(serializers.Serializer):
    code = serializers.CharField()
    discount = serializers.DecimalField(max_digits=14, decimal_places=2)
    order_ref = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    channel = serializers.ChoiceField(choices=Channels.choices[:2])
    store = serializers.CharField(source="store_code", allow_null=True, help_text="Store of the till")
    request_no = serializers.CharField()
    credited = CreditedOut(source="*", help_text="Who the sale is credited to")


class RedeemOut(_RedemptionOut):
    status = serializers.SerializerMethodField()
    gift_sku = serializers.SerializerMethodField()
    redeemed_at = serializers.DateTimeField(source="created_at")

    @extend_schema_field(serializers.ChoiceField(choices=["redeemed"]))
    def get_status(self, redemption: dict) -> str:
        return "redeemed"

    def get_gift_sku(self, redemption: dict) -> str:
        return (redemption["gift_sku"] or "") if redemption["template_kind"] == CouponTemplate.Kind.GIFT else ""


class ReturnOut(_RedemptionOut):
    status = serializers.SerializerMethodField()
    returned_at = serializers.DateTimeField(source="created_at")

    @extend_schema_field(serializers.ChoiceField(choices=["returned"]))
    def get_status(self, redemption: dict) -> str:
        return "returned"


def _error_example(code: str, status: int, message: str) -> OpenApiExample:
    return OpenApiExample(
        code, value={"error": {"code": code, "message": message}}, response_only=True, status_codes=[str(status)]
    )


_COMMON_ERRORS = [
    _error_example("invalid_api_key", 401, "The API key is not valid."),
    _error_example("scope_missing", 403, "这个接口密钥没有 coupons 权限（已有：orders）。"),
    _error_example("store_not_allowed", 403, "这个接口密钥不能用于门店 SH02。"),
    _error_example("unknown_code", 404, "没有这个券码。"),
    _error_example("unknown_store", 404, "没有编码为 SH99 的门店。"),
]
_RULE_ERRORS = [
    _error_example("already_redeemed", 409, "这张券已经使用过了。"),
    _error_example("expired", 422, "这张券已于 2026-12-20 00:00 过期。"),
    _error_example("below_threshold", 422, "适用商品满 300 元才能使用，当前 299 元。"),
]
_ERROR_RESPONSES = error_responses(404, 409, 422)


# APIs ------------------------------------------------------------------------------------------------------------


class CouponApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    required_scope = ApiKey.Scope.COUPONS
    # A key past its unknown codes is refused (429) before anything is read; the till's fast path does the same.
    throttle_classes = [ApiKeyFailureThrottle]
    failure_throttle_scope = CODE_GUESS_SCOPE

    def handle_exception(self, exc):
        if isinstance(exc, ApplicationError) and exc.code in CODE_GUESS_FAILURES:
            ApiKeyFailureThrottle.failure_record(self.request, self)
        return super().handle_exception(exc)


class CouponValidateApi(CouponApi):
    @extend_schema_serializer(component_name="CouponValidateIn")
    class InputSerializer(_OrderFieldsIn):
        order_ref = serializers.CharField(max_length=64, required=False, allow_blank=True)

    @extend_schema(
        operation_id="coupon_validate",
        summary="Check a coupon against an order (dry run: nothing is written)",
        description="Answers the discount the coupon gives on this order, or the rule it breaks.",
        request=InputSerializer,
        responses={200: QuoteOut, **_ERROR_RESPONSES},
        examples=[*_COMMON_ERRORS, *_RULE_ERRORS],
        tags=["coupons"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = order_in(api_key=request.auth, data=data.validated_data)
        coupon = coupon_by_code(code=data.validated_data["code"])
        quote = coupon_quote(coupon=coupon, order=order, now=timezone.now())
        return Response(QuoteOut(quote).data)


class CouponRedeemApi(CouponApi):
    # True: the till's fast path (coupons.till_api) answers the common call, and DRF's answers are built as it
    # builds them. as_view(till_fast_path=False) serves the reference path the fast one is held to: every call
    # through DRF, the redemption read back from the ledger and written by RedeemOut.
    till_fast_path = True

    @extend_schema_serializer(component_name="CouponRedeemIn")
    class InputSerializer(_OrderFieldsIn):
        request_no = serializers.CharField(
            max_length=REQUEST_NO_MAX, help_text="Unique per redemption; a retry with the same number is answered once"
        )

    @extend_schema(
        operation_id="coupon_redeem",
        summary="Use a coupon on an order, exactly once",
        description="201 when redeemed now; 200 with the same body when `request_no` was already redeemed.",
        request=InputSerializer,
        responses={200: RedeemOut, 201: RedeemOut, **_ERROR_RESPONSES},
        examples=[
            *_COMMON_ERRORS,
            *_RULE_ERRORS,
            _error_example("not_combinable", 409, "这笔订单已使用其他优惠券，这张券不能叠加使用。"),
            _error_example("request_no_reused", 409, "这个请求号已用于另一次核销或退回。"),
        ],
        tags=["coupons"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        redeemed = redeem(api_key=request.auth, fields=data.validated_data)
        if self.till_fast_path:
            body = redemption_body(redemption_shown(redeemed), status="redeemed")
        else:
            body = RedeemOut(redemption_shown(dataclasses.replace(redeemed, credited=None))).data
        return Response(body, status=201 if redeemed.created else 200)

    def dispatch(self, request, *args, **kwargs):
        """Every till waits on this, so the common call — a POST with an API key and a plain JSON body — is
        answered by the till's fast path (coupons.till_api.redeem_answer), without DRF's request, negotiation and
        renderer; the answers are the same bytes (tests compare both paths). Anything else (no key, an odd body,
        another method), or every call when `till_fast_path` is False, goes through DRF."""
        if self.till_fast_path and (answer := redeem_answer(request, scope=self.required_scope)) is not None:
            return answer
        return super().dispatch(request, *args, **kwargs)


class CouponReturnApi(CouponApi):
    @extend_schema_serializer(component_name="CouponReturnIn")
    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=32)
        store = serializers.CharField(
            max_length=32,
            required=False,
            allow_blank=True,
            help_text="Store code of the till: required for a store POS key, ignored for online keys",
        )
        order_ref = serializers.CharField(max_length=64, help_text="The order the coupon was redeemed on")
        request_no = serializers.CharField(max_length=REQUEST_NO_MAX, help_text="Unique per return")

    @extend_schema(
        operation_id="coupon_return",
        summary="Reverse a redemption (the order was returned): the coupon can be used again",
        description="201 when returned now; 200 with the same body when `request_no` was already returned.",
        request=InputSerializer,
        responses={200: ReturnOut, 201: ReturnOut, **_ERROR_RESPONSES},
        examples=[
            *_COMMON_ERRORS,
            _error_example("not_redeemed", 409, "这张券没有被使用，无需退回。"),
            _error_example("wrong_order", 409, "这张券不是在这笔订单上使用的。"),
        ],
        tags=["coupons"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel, _ = order_place(api_key=request.auth, store_code=data.validated_data.get("store", ""))
        returned = coupon_return(
            code=data.validated_data["code"],
            channel=channel,
            order_ref=data.validated_data["order_ref"],
            request_no=data.validated_data["request_no"],
            api_key=request.auth,
        )
        return Response(
            redemption_body(redemption_shown(returned), status="returned"), status=201 if returned.created else 200
        )
