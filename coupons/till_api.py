"""The till's side of the coupon API: where a key redeems (`order_place`), and the fast path of
`POST /api/v1/coupons/redeem/` (`redeem_answer`), which answers the common call without DRF.

Every till waits on the redeem call, so its common form — a POST with an API key and a plain JSON body — is
answered by `redeem_answer` from `CouponRedeemApi.dispatch` (coupons.apis); anything else goes through DRF. The
two paths give the same answers, byte for byte, and write the same rows; tests/test_till_equivalence.py drives
both on the same inputs (`CouponRedeemApi.as_view(till_fast_path=False)` sends every call through DRF). Each fast
piece, and the reference it must be changed together with:

- `redeem_answer` ↔ `CouponRedeemApi.post` through DRF: `ApiKeyAuthentication`, `HasApiKeyScope` (the key's
  scope), `InputSerializer`, the same `redeem`, then DRF's renderer; the refusals answer the envelope of
  `omni.api.api_exception_handler` (`api_error_body`).
- `redeem_fields_plain` ↔ `CouponRedeemApi.InputSerializer`: it may decline what the serializer accepts (DRF then
  answers), never accept what it rejects; an input field is added to both.
- the key and the till's store in one statement (`customers.apis.api_key_authenticate_at_store`, the store's
  permission checked in SQL) ↔ `order_place` reading the store the key names with its own statement.
- `redemption_shown` from what `coupons.till.coupon_redeem` read under its lock ↔ the same fields read back from
  the ledger (a replay, a return).
- `redemption_body` ↔ the `RedeemOut` / `ReturnOut` serializers, which document it; `json_answer` ↔ DRF's
  `JSONRenderer` with the headers its views add. A field of the answer is added to all of them.
"""

import json
import re
from decimal import Decimal

from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from associates.models import Store
from coupons.models import Channels, CouponTemplate, Redemption
from coupons.redemption import OrderIn, OrderLineIn, Redeemed
from coupons.refusals import REQUEST_NO_MAX
from coupons.till import coupon_redeem
from customers.apis import KeyStore, api_key_authenticate_at_store
from customers.ingestion import api_key_scope_require
from customers.models import ApiKey, Channel, Product
from omni import rawsql
from omni.api import MalformedJson, api_error_body, json_body_parse, retry_after_set
from omni.errors import ApplicationError
from omni.throttling import FailureThrottle, api_key_ident

# A key that answers too many of these is guessing codes: counted per key across validate, redeem and return
# (omni.throttling.FailureThrottle), never a till's genuine redemptions.
CODE_GUESS_FAILURES = frozenset({"unknown_code"})
CODE_GUESS_SCOPE = "coupon_codes_failed"


def till_failure_record(*, api_key: ApiKey) -> None:
    FailureThrottle(CODE_GUESS_SCOPE).failure_record(api_key_ident(api_key.pk))


def _key_store_read(*, api_key: ApiKey, store_code: str) -> KeyStore:
    key_stores = ApiKey.stores.through._meta.db_table
    found = rawsql.rows(
        f"SELECT s.id, s.name, EXISTS (SELECT 1 FROM {key_stores} k WHERE k.apikey_id = %s), "
        f"EXISTS (SELECT 1 FROM {key_stores} k WHERE k.apikey_id = %s AND k.store_id = s.id) "
        f"FROM {Store._meta.db_table} s WHERE s.code = %s",
        [api_key.pk, api_key.pk, store_code],
    )
    if not found:
        return KeyStore(code=store_code, id=None, name=None, key_limited=False, key_allows=False)
    store_id, name, key_limited, key_allows = found[0]
    return KeyStore(code=store_code, id=store_id, name=name, key_limited=bool(key_limited), key_allows=bool(key_allows))


def order_place(*, api_key: ApiKey, store_code: str, seen: KeyStore | None = None) -> tuple[str, Store | None]:
    """Where this key redeems: the services' channel, and for a till its store, within the key's stores. `seen`:
    the store as read with the key (the till's path); else it is read here."""
    if api_key.channel != Channel.STORE_POS:
        return Channels.ONLINE, None
    if not store_code:
        raise ApplicationError(
            "store_required", "门店核销需要门店编码 store。", details={"store": ["门店 POS 的密钥必须传入门店编码。"]}
        )
    if seen is None or seen.code != store_code:
        seen = _key_store_read(api_key=api_key, store_code=store_code)
    if seen.id is None:
        raise ApplicationError("unknown_store", f"没有编码为 {store_code} 的门店。", status_code=404)
    if seen.key_limited and not seen.key_allows:
        raise ApplicationError("store_not_allowed", f"这个接口密钥不能用于门店 {store_code}。", status_code=403)
    store = Store(pk=seen.id, code=store_code, name=seen.name)
    return Channels.STORE, store


def order_in(*, api_key: ApiKey, data: dict, seen: KeyStore | None = None) -> OrderIn:
    """The order the API's fields describe, at the place the key redeems (`order_place`)."""
    channel, store = order_place(api_key=api_key, store_code=data.get("store", ""), seen=seen)
    return OrderIn(
        channel=channel,
        store=store,
        order_ref=data.get("order_ref", ""),
        amount=data["amount"],
        lines=tuple(OrderLineIn(sku=line["sku"], amount=line["amount"]) for line in data.get("lines", ())),
    )


def redeem(*, api_key: ApiKey, fields: dict, seen: KeyStore | None = None) -> Redeemed:
    """Redeem what the API's validated fields ask, for `api_key`."""
    order = order_in(api_key=api_key, data=fields, seen=seen)
    return coupon_redeem(code=fields["code"], order=order, request_no=fields["request_no"], api_key=api_key)


_PLAIN_AMOUNT = re.compile(r"\d{1,12}(\.\d{1,2})?")


def redeem_fields_plain(data: object) -> dict | None:
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


def _decimal_out(value: Decimal) -> str:
    return f"{value.quantize(rawsql.CENT):f}"


def redemption_body(redemption: dict, *, status: str) -> dict:
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


def redemption_shown(redeemed: Redeemed) -> dict:
    """What the answer shows of the ledger row: for a redemption just made, from what the service read under its
    lock (no further query on the till's path); for a replay or a return, read back from the ledger."""
    redemption = redeemed.redemption
    if redeemed.credited is not None:
        coupon = redemption.coupon
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
            "credited_associate_userid": redeemed.credited.associate_userid,
            "credited_store_code": redeemed.credited.store_code,
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


def json_answer(body: dict, *, status: int) -> HttpResponse:
    """What DRF's JSONRenderer writes for `body` (compact, UTF-8 as is), with the header its view adds (no `Vary`:
    DRF adds `Vary: Accept` only to a view with more than one renderer, and the API has JSON's alone)."""
    content = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    response = HttpResponse(content, status=status, content_type="application/json")
    response["Allow"] = "POST, OPTIONS"
    return response


def redeem_answer(request: HttpRequest, *, scope: str) -> HttpResponse | None:
    """The answer to a till's common redeem call (a POST with an API key and a plain JSON body), without DRF's
    request, negotiation and renderer; None for anything else (no key, an odd body, another method), which DRF
    answers as usual. `scope`: the one the API requires of the key."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not (request.method == "POST" and request.content_type == "application/json" and header.startswith("Api-Key ")):
        return None
    try:
        fields = redeem_fields_plain(json_body_parse(request.body))
    except MalformedJson:  # not JSON, or nested too deep: DRF's parser answers it
        return None
    if fields is None:
        return None
    caller = None
    try:
        # This first statement only reads, so the kept connection is not probed first (rawsql.unprobed).
        caller = rawsql.unprobed(lambda: api_key_authenticate_at_store(header, store_code=fields.get("store", "")))
        api_key_scope_require(api_key=caller.api_key, scope=scope)
        FailureThrottle(CODE_GUESS_SCOPE).check(api_key_ident(caller.api_key.pk))
        redeemed = redeem(api_key=caller.api_key, fields=fields, seen=caller.store)
    except ApplicationError as error:
        if error.code in CODE_GUESS_FAILURES and caller is not None:
            till_failure_record(api_key=caller.api_key)
        return retry_after_set(json_answer(api_error_body(error), status=error.status_code), error)
    status = 201 if redeemed.created else 200
    return json_answer(redemption_body(redemption_shown(redeemed), status="redeemed"), status=status)
