"""Ingestion API for brand systems (POS, mini-program, mall): members, products, store stock and orders in batches.

Authentication: `Authorization: Api-Key <prefix>.<secret>`; the key fixes the channel and the stores, and each
endpoint needs its scope (members, catalogue — only for a key not limited to stores —, stock — for the key's
stores —, orders): 403 `scope_missing`.
Every batch answers per row: 200 when all rows succeeded, 207 when some failed, 400 when none did.
"""

import dataclasses
import hmac
import json
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import authentication, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from associates.models import Store
from customers.consent import Source as ConsentSource
from customers.consent import consent_opt_in, consent_opt_out
from customers.ingestion import (
    RowResult,
    Scope,
    api_key_scope_require,
    members_upsert,
    orders_upsert,
    products_upsert,
    stock_row_key,
    stock_upsert,
)
from customers.models import ApiKey, Channel, Customer, Identity, Order
from customers.returns import ReturnIn, ReturnLineIn, order_lines_left, order_return_record, orders_find
from customers.selectors import customer_survivor
from customers.services import identity_normalize
from customers.tags_events import purchase_rules_refresh_later
from omni import rawsql
from omni.errors import ApplicationError
from omni.openapi import ErrorOut, error_responses
from omni.throttling import ApiKeyRequestThrottle


class ApiKeyPrincipal:
    """The authenticated caller of the ingestion API: a brand system, not a person."""

    is_authenticated = True

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key


@dataclasses.dataclass(frozen=True)
class KeyStore:
    """A store by its code as an API key sees it, read in the key's own statement for a till's call."""

    code: str
    id: int | None  # None: no store has this code
    name: str | None
    key_limited: bool  # the key is limited to stores
    key_allows: bool  # and this store is one of them


@dataclasses.dataclass(frozen=True)
class KeyAtStore:
    """An authenticated key and the till's store as the key sees it (`api_key_authenticate_at_store`)."""

    api_key: ApiKey
    store: KeyStore


def _active_key(prefix: str, *, store_code: str | None = None) -> tuple[ApiKey, KeyStore | None] | None:
    """The active key with this prefix and its scopes, in one hand-written statement: every POS and mall call starts
    here, and the scope check (api_key_scope_require) costs no further round trip.

    With `store_code`, the same statement also reads that store as the key sees it, for a till's call; else the
    store is None."""
    key_table, key_stores = ApiKey._meta.db_table, ApiKey.stores.through._meta.db_table
    store_table = ApiKey.stores.field.related_model._meta.db_table
    if store_code is None:
        found = rawsql.rows(
            f"SELECT id, name, channel, key_hash, last_used_at, scopes FROM {key_table} "
            "WHERE prefix = %s AND is_active",
            [prefix],
            prepare=True,
        )
    else:
        found = rawsql.rows(
            f"SELECT k.id, k.name, k.channel, k.key_hash, k.last_used_at, k.scopes, s.id, s.name, "
            f"EXISTS (SELECT 1 FROM {key_stores} ks WHERE ks.apikey_id = k.id), "
            f"EXISTS (SELECT 1 FROM {key_stores} ks WHERE ks.apikey_id = k.id AND ks.store_id = s.id) "
            f"FROM {key_table} k LEFT JOIN {store_table} s ON s.code = %s "
            "WHERE k.prefix = %s AND k.is_active",
            [store_code, prefix],
            prepare=True,
        )
    if not found:
        return None
    pk, name, channel, key_hash, last_used_at, scopes = found[0][:6]
    api_key = ApiKey(
        pk=pk,
        name=name,
        channel=channel,
        prefix=prefix,
        key_hash=key_hash,
        is_active=True,
        last_used_at=rawsql.moment(last_used_at),
        scopes=json.loads(scopes) if isinstance(scopes, str) else scopes,  # JSON as the drivers give it: text
    )
    if store_code is None:
        return api_key, None
    store_id, store_name, limited, allows = found[0][6:]
    return api_key, KeyStore(
        code=store_code, id=store_id, name=store_name, key_limited=bool(limited), key_allows=bool(allows)
    )


API_KEY_KEYWORD = "Api-Key"


def _authenticated(header: str, *, store_code: str | None) -> tuple[ApiKey, KeyStore | None] | None:
    if not header.startswith(f"{API_KEY_KEYWORD} "):
        return None
    token = header[len(API_KEY_KEYWORD) + 1 :].strip()
    prefix, _, secret = token.partition(".")
    found = _active_key(prefix, store_code=store_code) if secret else None
    if found is None or not hmac.compare_digest(found[0].key_hash, ApiKey.hash_secret(token)):
        raise ApplicationError("invalid_api_key", "The API key is not valid.", status_code=401)
    api_key = found[0]
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return found


def api_key_authenticate(header: str) -> ApiKey | None:
    """The active key an `Authorization: Api-Key <prefix>.<secret>` header names; None when the header is not of
    that scheme; `invalid_api_key` (401) when it names no active key."""
    found = _authenticated(header, store_code=None)
    return None if found is None else found[0]


def api_key_authenticate_at_store(header: str, *, store_code: str) -> KeyAtStore | None:
    """`api_key_authenticate` for a till's call: the same statement also reads the store `store_code` names, as the
    key sees it (coupons.till_api)."""
    found = _authenticated(header, store_code=store_code)
    return None if found is None else KeyAtStore(api_key=found[0], store=found[1])


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = API_KEY_KEYWORD

    def authenticate(self, request):
        api_key = api_key_authenticate(request.META.get("HTTP_AUTHORIZATION", ""))
        return None if api_key is None else (ApiKeyPrincipal(api_key), api_key)

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <prefix>.<secret>`, created in Django admin",
        }


class HasApiKey(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, ApiKeyPrincipal)


class HasApiKeyScope(HasApiKey):
    """An API key holding the view's `required_scope` (an ApiKey.Scope); else 403 `scope_missing`, before the
    body is read, so the refused call changes nothing."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        api_key_scope_require(api_key=request.auth, scope=view.required_scope)
        return True


class IdentityIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Identity.Kind.choices)
    value = serializers.CharField(max_length=128)


class MemberIn(serializers.Serializer):
    external_id = serializers.CharField(max_length=128, help_text="The member's id in this channel")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Customer.Gender.choices, required=False)
    birthday = serializers.DateField(required=False, allow_null=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    identities = IdentityIn(many=True, required=False, max_length=20)
    store = serializers.CharField(max_length=32, required=False, allow_blank=True, help_text="Store code")
    associate = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="WeCom userid of the associate"
    )
    marketing_consent = serializers.BooleanField(required=False)
    opted_out = serializers.BooleanField(required=False)
    level = serializers.CharField(
        max_length=30, required=False, allow_blank=True, help_text="Membership level in the loyalty system (金卡)"
    )
    points = serializers.IntegerField(
        min_value=0, max_value=2_147_483_647, required=False, help_text="Points balance, as the loyalty system says"
    )
    points_expiring = serializers.IntegerField(
        min_value=0, max_value=2_147_483_647, required=False, help_text="Points of the balance expiring soon"
    )
    points_expire_on = serializers.DateField(
        required=False, allow_null=True, help_text="The day those points expire; required with points_expiring > 0"
    )

    def validate(self, attrs):
        expiring = attrs.get("points_expiring")
        if expiring and "points" in attrs and expiring > attrs["points"]:
            raise serializers.ValidationError(
                {
                    "points_expiring": serializers.ErrorDetail(
                        "Points expiring cannot exceed the points balance.", code="points_expiring_exceeds_points"
                    )
                }
            )
        if expiring and not attrs.get("points_expire_on"):
            raise serializers.ValidationError(
                {
                    "points_expire_on": serializers.ErrorDetail(
                        "Send the day the expiring points expire.", code="points_expire_on_required"
                    )
                }
            )
        return attrs


class StockIn(serializers.Serializer):
    store = serializers.CharField(max_length=32, help_text="Store code")
    quantity = serializers.IntegerField(min_value=0, max_value=2_147_483_647)


class StockRowIn(StockIn):
    sku = serializers.CharField(max_length=64)


class ProductIn(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    category = serializers.CharField(max_length=50, required=False, allow_blank=True)
    size = serializers.CharField(
        max_length=20, required=False, allow_blank=True, help_text="Clothing or shoe size (M, 38); blank otherwise"
    )
    style_code = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="The style (款号) the SKU is a colour or size of; suggestions show one SKU per style",
    )
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    image_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    barcode = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text="Barcode as scanned, e.g. EAN-13 6901234567890"
    )
    is_active = serializers.BooleanField(required=False)
    online_stock = serializers.IntegerField(
        min_value=0,
        max_value=2_147_483_647,
        required=False,
        allow_null=True,
        help_text="Units sellable online; null: not sold online",
    )
    stock = StockIn(many=True, required=False, max_length=1000)


class CustomerRefIn(serializers.Serializer):
    member_id = serializers.CharField(max_length=128, required=False, help_text="The member's id in this channel")
    phone = serializers.CharField(max_length=32, required=False)
    identities = IdentityIn(many=True, required=False, max_length=20)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class OrderLineIn(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=-100_000, max_value=100_000)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)

    def validate_quantity(self, value):
        if value == 0:
            raise serializers.ValidationError("Quantity cannot be 0.", code="zero_quantity")
        return value


class OrderIn(serializers.Serializer):
    external_id = serializers.CharField(max_length=64)
    placed_at = serializers.DateTimeField(help_text="ISO 8601; without an offset it is Asia/Shanghai time")
    store = serializers.CharField(max_length=32, required=False, allow_blank=True)
    associate = serializers.CharField(max_length=64, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
    fulfilment = serializers.ChoiceField(choices=Order.Fulfilment.choices, required=False)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
    customer = CustomerRefIn(required=False, allow_null=True)
    lines = OrderLineIn(many=True, min_length=1, max_length=500)


RowResultOut = inline_serializer(
    "RowResult",
    {
        "index": serializers.IntegerField(),
        "status": serializers.ChoiceField(choices=["created", "updated", "unchanged", "error"]),
        "key": serializers.CharField(),
        "id": serializers.IntegerField(required=False),
        "errors": inline_serializer(
            "RowError",
            {"field": serializers.CharField(), "code": serializers.CharField(), "message": serializers.CharField()},
            many=True,
            required=False,
        ),
    },
)
BatchOut = inline_serializer(
    "BatchResult",
    {
        "results": RowResultOut.__class__(many=True),
        "summary": serializers.DictField(child=serializers.IntegerField()),
    },
)


@extend_schema_serializer(component_name="BatchError")
class BatchErrorOut(ErrorOut):
    """A refused batch: the error, and when the rows were read (`all_rows_invalid`), each row's errors."""

    results = RowResultOut.__class__(many=True, required=False)
    summary = serializers.DictField(child=serializers.IntegerField(), required=False)


def _flatten_errors(detail, path: str = "") -> list[dict[str, str]]:
    """DRF's nested errors as a flat list of {field: "lines[2].quantity", code, message}."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            if key == "non_field_errors":
                child = path
            elif isinstance(key, int):  # a list serializer's errors keyed by position
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{key}" if path else key
            errors.extend(_flatten_errors(value, child))
        return errors
    if isinstance(detail, list):
        errors = []
        for i, item in enumerate(detail):
            errors.extend(_flatten_errors(item, path if isinstance(item, str) else f"{path}[{i}]"))
        return errors
    return [{"field": path, "code": getattr(detail, "code", "invalid"), "message": str(detail)}]


def _row_key(item) -> str:
    if not isinstance(item, dict):
        return ""
    return str(item.get("external_id") or item.get("sku") or "")[:128]


class _BatchApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    throttle_classes = [ApiKeyRequestThrottle]
    throttle_scope = "ingest"
    required_scope = ""
    item_key = ""
    item_serializer: type[serializers.Serializer]

    def row_key(self, item) -> str:
        """The key an invalid row's result names, read from the raw item."""
        return _row_key(item)

    def upsert(self, scope: Scope, rows: list[dict | None]) -> list[RowResult]:
        raise NotImplementedError

    def post(self, request):
        items = request.data.get(self.item_key) if isinstance(request.data, dict) else None
        if not isinstance(items, list) or not items:
            raise ApplicationError("malformed_request", f"Send a JSON object with a non-empty list {self.item_key!r}.")
        if len(items) > settings.OMNI_INGEST_MAX_BATCH:
            raise ApplicationError(
                "batch_too_large",
                f"At most {settings.OMNI_INGEST_MAX_BATCH} {self.item_key} per call; this batch has {len(items)}.",
            )
        rows, invalid = [], {}
        for index, item in enumerate(items):
            serializer = self.item_serializer(data=item)
            if serializer.is_valid():
                rows.append(serializer.validated_data)
            else:
                rows.append(None)
                invalid[index] = _flatten_errors(serializer.errors)
        results = self.upsert(Scope.of(request.auth), rows)
        for index, errors in invalid.items():
            result = results[index]
            result.key, result.status, result.errors = self.row_key(items[index]), "error", errors
        summary = {name: 0 for name in ("created", "updated", "unchanged", "error")}
        for result in results:
            summary[result.status] += 1
        body = {"results": [result.as_dict() for result in results], "summary": summary}
        if summary["error"] == len(results):
            body["error"] = {"code": "all_rows_invalid", "message": "No row of this batch could be written."}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(body, status=status.HTTP_207_MULTI_STATUS if summary["error"] else status.HTTP_200_OK)


def _batch_schema(name: str, serializer: type[serializers.Serializer], summary: str):
    return extend_schema(
        operation_id=f"{name}_batch_upsert",
        summary=summary,
        request=inline_serializer(f"{name.title()}BatchIn", {name: serializer(many=True)}),
        responses={200: BatchOut, 207: BatchOut, 400: BatchErrorOut},
        tags=["ingestion"],
    )


class MembersBatchApi(_BatchApi):
    required_scope = ApiKey.Scope.MEMBERS
    item_key = "members"
    item_serializer = MemberIn

    @_batch_schema("members", MemberIn, "Upsert members; each resolves to its One ID customer")
    def post(self, request):
        return super().post(request)

    def upsert(self, scope, rows):
        return members_upsert(scope=scope, members=rows)


class ProductsBatchApi(_BatchApi):
    required_scope = ApiKey.Scope.CATALOGUE  # the brand's catalogue: a key limited to stores never holds it
    item_key = "products"
    item_serializer = ProductIn

    @_batch_schema("products", ProductIn, "Upsert products by sku, with stock per store")
    def post(self, request):
        return super().post(request)

    def upsert(self, scope, rows):
        return products_upsert(scope=scope, products=rows)


class OrdersBatchApi(_BatchApi):
    required_scope = ApiKey.Scope.ORDERS
    item_key = "orders"
    item_serializer = OrderIn

    @_batch_schema("orders", OrderIn, "Record orders with their lines, once per (channel, external_id)")
    def post(self, request):
        return super().post(request)

    def upsert(self, scope, rows):
        results = orders_upsert(scope=scope, orders=rows)
        purchase_rules_refresh_later(order_ids=[r.id for r in results if r.status in ("created", "updated") and r.id])
        return results


class StockBatchApi(_BatchApi):
    required_scope = ApiKey.Scope.STOCK  # any key may hold it; a store-limited key writes only its stores' rows
    item_key = "stock"
    item_serializer = StockRowIn

    @_batch_schema(
        "stock",
        StockRowIn,
        "Set store stock by (sku, store); a key limited to stores sends only theirs (`store_not_allowed`)",
    )
    def post(self, request):
        return super().post(request)

    def row_key(self, item) -> str:
        return stock_row_key(item)

    def upsert(self, scope, rows):
        return stock_upsert(scope=scope, stock=rows)


class ConsentIn(serializers.Serializer):
    identity = IdentityIn(help_text="Who: any identity One ID knows the customer by")
    opted_out = serializers.BooleanField(help_text="true: no more marketing; false: the customer agreed again")
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ConsentOut(serializers.Serializer):
    opted_out = serializers.BooleanField()
    marketing_consent = serializers.BooleanField()
    changed = serializers.BooleanField(help_text="false: the customer was in this state already (nothing recorded)")


class ConsentApi(APIView):
    """The brand's systems record a customer's opt-out (or renewed consent); the consent ledger keeps it with the
    key that sent it (`customers.consent`)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    throttle_classes = [ApiKeyRequestThrottle]
    throttle_scope = "ingest"
    required_scope = ApiKey.Scope.MEMBERS

    @extend_schema(
        operation_id="consent_set",
        request=ConsentIn,
        responses={200: ConsentOut, **error_responses(404)},
        tags=["ingestion"],
    )
    def post(self, request):
        data = ConsentIn(data=request.data)
        data.is_valid(raise_exception=True)
        identity = data.validated_data["identity"]
        owner = Identity.objects.filter(kind=identity["kind"], value=identity["value"]).values("customer_id").first()
        customer = customer_survivor(customer_id=owner["customer_id"]) if owner else None
        if customer is None:
            raise ApplicationError("customer_not_found", "No customer has this identity.", status_code=404)
        store_ids = Scope.of(request.auth).store_ids
        if store_ids is not None and customer.primary_store_id not in store_ids:
            raise ApplicationError(
                "store_not_allowed", "This key may not change customers of other stores.", status_code=403
            )
        change = consent_opt_out if data.validated_data["opted_out"] else consent_opt_in
        changed = change(
            customer_id=customer.pk, source=ConsentSource.API, api_key=request.auth, note=data.validated_data["note"]
        )
        customer.refresh_from_db(fields=["opted_out", "marketing_consent"])
        return Response(
            {"opted_out": customer.opted_out, "marketing_consent": customer.marketing_consent, "changed": bool(changed)}
        )


# Returns anywhere (customers.returns) ----------------------------------------------------------------------------


class OrderReturnLineIn(serializers.Serializer):
    line_no = serializers.IntegerField(min_value=1, help_text="The original order's line number (1-based)")
    quantity = serializers.IntegerField(min_value=1, max_value=100_000, help_text="Units taken back, positive")


class ReturnedLineOut(serializers.Serializer):
    line_no = serializers.IntegerField(source="original_line.line_no", help_text="The original order's line")
    sku = serializers.CharField(source="product.sku")
    quantity = serializers.IntegerField(help_text="Units taken back (positive)")
    refund = serializers.DecimalField(max_digits=14, decimal_places=2)


class OrderReturnOut(serializers.Serializer):
    id = serializers.IntegerField()
    request_no = serializers.CharField()
    order_no = serializers.CharField(help_text="The original order's number")
    order_channel = serializers.CharField()
    store = serializers.CharField(help_text="Code of the store that took it back")
    refund_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    returned_at = serializers.DateTimeField()
    lines = ReturnedLineOut(many=True)


def _return_body(order: Order) -> dict:
    return {
        "id": order.pk,
        "request_no": order.external_id,
        "order_no": order.original.external_id,
        "order_channel": order.original.channel,
        "store": order.store.code,
        "refund_amount": -order.total_amount,
        "returned_at": order.placed_at,
        "lines": [
            {
                "original_line": line.original_line,
                "product": line.product,
                "quantity": -line.quantity,
                "refund": -line.amount,
            }
            for line in order.lines.select_related("original_line", "product").order_by("line_no")
        ],
    }


def _error_example(code: str, status_code: int, message: str) -> OpenApiExample:
    return OpenApiExample(
        code, value={"error": {"code": code, "message": message}}, response_only=True, status_codes=[str(status_code)]
    )


class OrderReturnApi(APIView):
    """A store's till takes back (part of) an order from any channel — the mall's, the mini-program's, another
    store's — and records it against that order, once per request number."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    throttle_classes = [ApiKeyRequestThrottle]
    throttle_scope = "ingest"
    required_scope = ApiKey.Scope.ORDERS

    @extend_schema_serializer(component_name="OrderReturnIn")
    class InputSerializer(serializers.Serializer):
        request_no = serializers.RegexField(
            r"^[A-Za-z0-9._:\-]+$", max_length=64, help_text="The till's number for this return; unique per return"
        )
        order_no = serializers.CharField(max_length=64, help_text="The original order's number (external_id)")
        order_channel = serializers.ChoiceField(choices=Channel.choices, help_text="The original order's channel")
        store = serializers.CharField(max_length=32, help_text="Code of the store taking the goods back")
        refund_amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
        lines = OrderReturnLineIn(many=True, min_length=1, max_length=500)

    @extend_schema(
        operation_id="order_return",
        summary="Record a return (or the return half of an exchange) at any store against the original order",
        description=(
            "201 when recorded now; 200 with the same body when `request_no` was already recorded with the same "
            "content; 409 `request_no_reused` when it was recorded with other content. Nothing is written on any "
            "error. The return is credited back to whoever the sale was credited to; coupons used on the returned "
            "lines come back as their template says."
        ),
        request=InputSerializer,
        responses={200: OrderReturnOut, 201: OrderReturnOut, **error_responses(404, 409)},
        examples=[
            _error_example("unknown_order", 404, "没有找到这笔原订单。"),
            _error_example("unknown_line", 400, "原订单没有第 3 行。"),
            _error_example("over_return", 409, "第 1 行（真丝连衣裙）还可退 0 件，本次退 1 件。"),
            _error_example("request_no_reused", 409, "这个请求号已用于另一笔退货或订单，内容不同。"),
            _error_example("refund_too_large", 400, "所退商品最多可退 899.00 元，本次退款 999.00 元。"),
            _error_example("channel_not_allowed", 403, "门店退货只能由门店 POS 的接口密钥登记。"),
            _error_example("store_not_allowed", 403, "这个接口密钥不能为门店 SH02 登记退货。"),
        ],
        tags=["orders"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        store = Store.objects.filter(code=values["store"]).first()
        if store is None:
            raise ApplicationError("unknown_store", f"没有编码为 {values['store']} 的门店。", status_code=404)
        recorded = order_return_record(
            scope=Scope.of(request.auth),
            request=ReturnIn(
                request_no=values["request_no"],
                order_channel=values["order_channel"],
                order_no=values["order_no"],
                store=store,
                refund_amount=values["refund_amount"],
                lines=tuple(
                    ReturnLineIn(line_no=line["line_no"], quantity=line["quantity"]) for line in values["lines"]
                ),
            ),
        )
        body = OrderReturnOut(_return_body(recorded.order)).data
        return Response(body, status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK)


class LookupLineOut(serializers.Serializer):
    line_no = serializers.IntegerField(source="line.line_no")
    sku = serializers.CharField(source="line.product.sku")
    name = serializers.CharField(source="line.product.name")
    quantity = serializers.IntegerField(source="line.quantity")
    unit_price = serializers.DecimalField(source="line.unit_price", max_digits=12, decimal_places=2)
    amount = serializers.DecimalField(source="line.amount", max_digits=14, decimal_places=2)
    returnable = serializers.IntegerField(source="quantity", help_text="Units not yet returned")
    refundable = serializers.DecimalField(
        source="amount", max_digits=14, decimal_places=2, help_text="Amount of those units not yet refunded"
    )


class LookupOrderOut(serializers.Serializer):
    order_no = serializers.CharField(source="order.external_id")
    channel = serializers.CharField(source="order.channel")
    store = serializers.CharField(source="order.store.code", allow_null=True, default=None)
    placed_at = serializers.DateTimeField(source="order.placed_at")
    status = serializers.CharField(source="order.status")
    total_amount = serializers.DecimalField(source="order.total_amount", max_digits=14, decimal_places=2)
    lines = LookupLineOut(many=True)


class OrderLookupApi(APIView):
    """A till finds the order a customer brings back: by its number, or by the customer (phone or an identity)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    throttle_classes = [ApiKeyRequestThrottle]
    throttle_scope = "ingest"
    required_scope = ApiKey.Scope.ORDERS

    class QuerySerializer(serializers.Serializer):
        order_no = serializers.CharField(max_length=64, required=False, help_text="The order's number")
        channel = serializers.ChoiceField(choices=Channel.choices, required=False, help_text="With order_no")
        phone = serializers.CharField(max_length=32, required=False, help_text="The customer's phone")
        identity_kind = serializers.ChoiceField(choices=Identity.Kind.choices, required=False)
        identity_value = serializers.CharField(max_length=128, required=False)

    @extend_schema(
        operation_id="order_lookup",
        summary="Find returnable orders by order number or by the customer, with what is left to return",
        parameters=[QuerySerializer],
        responses={200: inline_serializer("OrderLookupOut", {"orders": LookupOrderOut(many=True)})},
        tags=["orders"],
    )
    def get(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        if values.get("order_no"):
            orders = orders_find(order_no=values["order_no"], channel=values.get("channel", ""))
        else:
            if values.get("phone"):
                kind, value = Identity.Kind.PHONE, values["phone"]
            elif values.get("identity_kind") and values.get("identity_value"):
                kind, value = values["identity_kind"], values["identity_value"]
            else:
                raise ApplicationError("lookup_key_required", "请传入订单号 order_no、手机号 phone 或身份标识。")
            owner = Identity.objects.filter(kind=kind, value=identity_normalize(kind=kind, value=value)).first()
            orders = orders_find(customer_id=owner.customer_id) if owner is not None else []
        found = [{"order": order, "lines": order_lines_left(order=order)} for order in orders]
        return Response({"orders": LookupOrderOut(found, many=True).data})
