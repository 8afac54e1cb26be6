"""Coupon API for brand systems (/api/v1/coupons/…): validate, redeem and return a coupon by its code.

Authentication: `Authorization: Api-Key <prefix>.<secret>` (customers.apis). A store POS key redeems at a till,
so `store` is required and, when the key is limited to stores, must be one of them; the keys of online channels
(mini-program, mall, marketplace) redeem online and ignore `store`. Every call needs the key's `coupons` scope
(403 `scope_missing`). The rules and their stable error codes live in coupons.services; a replay of a request
number by the key that made it answers 200 with the first result and writes nothing, by any other key 409
`request_no_reused` and nothing of the first; a return touches only a redemption made at the key's stores and
through its channel.
"""

import json
import re
from decimal import Decimal

from django.db.models import F
from django.http import HttpResponse
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

from associates.models import Store
from coupons.models import Channels, CouponTemplate, Redemption
from coupons.services import (
    REQUEST_NO_MAX,
    OrderIn,
    OrderLineIn,
    Quote,
    Redeemed,
    coupon_by_code,
    coupon_quote,
    coupon_redeem,
    coupon_return,
)
from customers.apis import ApiKeyAuthentication, HasApiKeyScope, api_key_authenticate
from customers.ingestion import api_key_scope_require
from customers.models import ApiKey, Channel, Product
from omni import rawsql
from omni.api import MalformedJson, json_body_parse
from omni.errors import ApplicationError, api_error_body
from omni.openapi import error_responses

ORDER_LINES_MAX = 500


def _order_place(*, api_key: ApiKey, store_code: str) -> tuple[str, Store | None]:
    """Where this key redeems: the services' channel, and for a till its store, within the key's stores."""
    if api_key.channel != Channel.STORE_POS:
        return Channels.ONLINE, None
    if not store_code:
        raise ApplicationError(
            "store_required", "门店核销需要门店编码 store。", details={"store": ["门店 POS 的密钥必须传入门店编码。"]}
        )
    seen = getattr(api_key, "store_seen", {})
    if store_code in seen:  # read with the key (the till's path)
        found = [seen[store_code]] if seen[store_code] else []
    else:
        key_stores = ApiKey.stores.through._meta.db_table
        found = rawsql.rows(
            f"SELECT s.id, s.name, EXISTS (SELECT 1 FROM {key_stores} k WHERE k.apikey_id = %s), "
            f"EXISTS (SELECT 1 FROM {key_stores} k WHERE k.apikey_id = %s AND k.store_id = s.id) "
            f"FROM {Store._meta.db_table} s WHERE s.code = %s",
            [api_key.pk, api_key.pk, store_code],
        )
    if not found:
        raise ApplicationError("unknown_store", f"没有编码为 {store_code} 的门店。", status_code=404)
    store_id, name, key_limited, key_allows = found[0]
    if key_limited and not key_allows:
        raise ApplicationError("store_not_allowed", f"这个接口密钥不能用于门店 {store_code}。", status_code=403)
    store = Store(pk=store_id, code=store_code, name=name)
    return Channels.STORE, store


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


_PLAIN_AMOUNT = re.compile(r"\d{1,12}(\.\d{1,2})?")


def _redeem_fields_plain(data: object) -> dict | None:
    """The redeem body as CouponRedeemApi.InputSerializer would validate it, when it is the plain common case
    (strings within their limits, an amount like "399.00", no lines); None for anything else, which the
    serializer then validates and, when wrong, explains. A test holds the two to the same answers: this may
    decline what the serializer accepts, never accept what it rejects. Every till's call starts here."""
    if not isinstance(data, dict) or "lines" in data:
        return None
    fields = {}
    for name, limit, required in (("code", 32, True), ("store", 32, False), ("order_ref", 64, True)):
        value = data.get(name, "")
        if not isinstance(value, str) or len(value := value.strip()) > limit or (required and not value):
            return None
        if not (value.isascii() and value.isprintable()):
            return None
        if value or name != "store" or name in data:
            fields[name] = value
    request_no, amount = data.get("request_no"), data.get("amount")
    if not isinstance(request_no, str) or not (request_no := request_no.strip()) or len(request_no) > REQUEST_NO_MAX:
        return None
    if not (request_no.isascii() and request_no.isprintable()):
        return None
    if not isinstance(amount, str) or not _PLAIN_AMOUNT.fullmatch(amount := amount.strip()):
        return None
    fields["amount"] = Decimal(amount).quantize(rawsql.CENT)
    if fields["amount"] < rawsql.CENT:
        return None
    fields["request_no"] = request_no
    return fields


def _order_in(*, api_key: ApiKey, data: dict) -> OrderIn:
    channel, store = _order_place(api_key=api_key, store_code=data.get("store", ""))
    return OrderIn(
        channel=channel,
        store=store,
        order_ref=data.get("order_ref", ""),
        amount=data["amount"],
        lines=tuple(OrderLineIn(sku=line["sku"], amount=line["amount"]) for line in data.get("lines", ())),
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


def _decimal_out(value: Decimal) -> str:
    return f"{value.quantize(rawsql.CENT):f}"


def _redemption_out(redemption: dict, *, status: str) -> dict:
    """RedeemOut / ReturnOut's body, built directly: those serializers document it, and a test holds the two equal.
    The till waits on this, and a serializer's field copies cost more than the answer's database work."""
    out = {
        "code": redemption["code"],
        "discount": _decimal_out(redemption["discount"]),
        "order_ref": redemption["order_ref"],
        "amount": _decimal_out(redemption["amount"]),
        "channel": redemption["channel"],
        "store": redemption["store_code"],
        "request_no": redemption["request_no"],
        "credited": {
            "associate": redemption["credited_associate_userid"],
            "store": redemption["credited_store_code"],
        },
        "status": status,
    }
    at = timezone.localtime(redemption["created_at"]).isoformat()
    if status == "redeemed":
        gift = redemption["template_kind"] == CouponTemplate.Kind.GIFT
        out.update(gift_sku=(redemption["gift_sku"] or "") if gift else "", redeemed_at=at)
    else:
        out["returned_at"] = at
    return out


def _redemption(redeemed: Redeemed) -> dict:
    """What the answer shows of the ledger row: for a redemption just made, from what the service read under its
    lock (no further query on the till's path); for a replay, read back from the ledger."""
    redemption = redeemed.redemption
    coupon = redemption.coupon if redeemed.created and redemption.kind == Redemption.Kind.REDEEM else None
    if coupon is not None and hasattr(coupon, "sender_userid"):
        template = coupon.template
        gift_sku = ""
        if template.kind == CouponTemplate.Kind.GIFT and template.gift_product_id:
            gift_sku = Product.objects.filter(pk=template.gift_product_id).values_list("sku", flat=True).first()
        return {
            "request_no": redemption.request_no,
            "order_ref": redemption.order_ref,
            "amount": redemption.amount,
            "discount": redemption.discount,
            "channel": redemption.channel,
            "created_at": redemption.created_at,
            "code": coupon.code,
            "store_code": redemption.store.code if redemption.store else None,
            "credited_associate_userid": coupon.sender_userid,
            "credited_store_code": coupon.sender_store_code,
            "template_kind": template.kind,
            "gift_sku": gift_sku,
        }
    return (
        Redemption.objects.filter(pk=redeemed.redemption.pk)
        .values(
            "request_no",
            "order_ref",
            "amount",
            "discount",
            "channel",
            "created_at",
            code=F("coupon__code"),
            store_code=F("store__code"),
            credited_associate_userid=F("credited_associate__wecom_userid"),
            credited_store_code=F("credited_store__code"),
            template_kind=F("coupon__template__kind"),
            gift_sku=F("coupon__template__gift_product__sku"),
        )
        .get()
    )


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
        order = _order_in(api_key=request.auth, data=data.validated_data)
        coupon = coupon_by_code(code=data.validated_data["code"])
        quote = coupon_quote(coupon=coupon, order=order, now=timezone.now())
        return Response(QuoteOut(quote).data)


def _json_answer(body: dict, *, status: int) -> HttpResponse:
    """What DRF's JSONRenderer writes for `body` (compact, UTF-8 as is), with the headers its views add."""
    content = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    response = HttpResponse(content, status=status, content_type="application/json")
    response["Vary"], response["Allow"] = "Accept", "POST, OPTIONS"
    return response


class CouponRedeemApi(CouponApi):
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
        redeemed = self._redeem(api_key=request.auth, fields=data.validated_data)
        return Response(
            _redemption_out(_redemption(redeemed), status="redeemed"), status=201 if redeemed.created else 200
        )

    def dispatch(self, request, *args, **kwargs):
        """Every till waits on this, so the common call — a POST with an API key and a plain JSON body — is
        answered here, without DRF's request, negotiation and renderer; the answers are the same bytes (tests
        compare both paths). Anything else (no key, an odd body, another method) goes through DRF as usual."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if request.method == "POST" and request.content_type == "application/json" and header.startswith("Api-Key "):
            try:
                fields = _redeem_fields_plain(json_body_parse(request.body))
            except MalformedJson:  # not JSON, or nested too deep: DRF's parser answers it
                fields = None
            if fields is not None:
                try:
                    api_key = self._till_key(header, store_code=fields.get("store", ""))
                    api_key_scope_require(api_key=api_key, scope=self.required_scope)
                    redeemed = self._redeem(api_key=api_key, fields=fields)
                except ApplicationError as error:
                    return _json_answer(api_error_body(error), status=error.status_code)
                status = 201 if redeemed.created else 200
                return _json_answer(_redemption_out(_redemption(redeemed), status="redeemed"), status=status)
        return super().dispatch(request, *args, **kwargs)

    @staticmethod
    def _till_key(header: str, *, store_code: str) -> ApiKey:
        """The caller's key, with the till's store; this first statement only reads, so the kept connection is not
        probed first (rawsql.unprobed)."""
        return rawsql.unprobed(lambda: api_key_authenticate(header, store_code=store_code))

    @staticmethod
    def _redeem(*, api_key: ApiKey, fields: dict) -> Redeemed:
        order = _order_in(api_key=api_key, data=fields)
        return coupon_redeem(code=fields["code"], order=order, request_no=fields["request_no"], api_key=api_key)


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
        channel, _ = _order_place(api_key=request.auth, store_code=data.validated_data.get("store", ""))
        returned = coupon_return(
            code=data.validated_data["code"],
            channel=channel,
            order_ref=data.validated_data["order_ref"],
            request_no=data.validated_data["request_no"],
            api_key=request.auth,
        )
        return Response(
            _redemption_out(_redemption(returned), status="returned"), status=201 if returned.created else 200
        )
