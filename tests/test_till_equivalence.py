"""The till's fast paths against their reference paths, on the same inputs: the answers and the rows written must be
the same, for a success, every refusal the till can answer and a replay of the same request number.

Each case builds one world, then runs the calls through one path, reads every row the paths may write, rolls back
to the world as it was, and does the same through the other path; the two are compared whole, so a path that
answers or writes anything differently fails its case with the difference.

- The redeem API (coupons.till_api): `CouponRedeemApi` as served (the fast dispatch) against
  `CouponRedeemApi.as_view(till_fast_path=False)` (DRF: authentication, permission, serializer, renderer); the
  coupon-rule refusals also against the validate API, whose coupon is read through the ORM.
- Redeeming (coupons.till, PostgreSQL): the one-statement `coupon_redeem_guarded` against the locked
  `coupon_redeem_locked`.
- Sending (coupons.sending_many): `coupon_pack_send_many` for one customer against `coupon_pack_send`, but for the
  associate's daily quota, which a campaign does not take.
"""

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.response import Response

from coupons.apis import CouponRedeemApi, CouponValidateApi
from coupons.models import (
    Channels,
    Coupon,
    CouponOrder,
    CouponPack,
    CouponTemplate,
    CustomerHolding,
    IssueRequest,
    Redemption,
    TemplateDay,
)
from coupons.redemption import coupon_revoke
from coupons.sending import coupon_pack_send
from coupons.sending_many import coupon_pack_send_many
from coupons.till import coupon_redeem_guarded, coupon_redeem_locked
from coupons.till_api import order_in, redeem_fields_plain, redemption_body, redemption_shown
from customers.ingestion import api_key_create
from customers.models import ApiKey, Channel
from omni.api import api_error_body
from omni.errors import ApplicationError
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    ProductFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db

REDEEM, VALIDATE = "/api/v1/coupons/redeem/", "/api/v1/coupons/validate/"
NOW = dt.datetime(2026, 3, 4, 7, 0, tzinfo=dt.UTC)  # a Wednesday, 15:00 in Shanghai
ISSUED = NOW - dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch):
    """Both paths run at the same moment, so the times they write compare equal."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def _rolled_back(run: Callable[[], object]) -> object:
    """What `run` returns, with every write it made undone afterwards."""
    with transaction.atomic():
        outcome = run()
        transaction.set_rollback(True)
    return outcome


# The world -------------------------------------------------------------------------------------------------------


class World:
    """Stores SH01 and BJ01, SH01's associate lina who sends the coupons, and the API keys the tills call with."""

    def __init__(self):
        self.sh01 = StoreFactory(code="SH01", name="静安店")
        self.bj01 = StoreFactory(code="BJ01", name="国贸店")
        self.lina = AssociateFactory(wecom_userid="lina", store=self.sh01)
        self.headers = {
            "pos": self._key(Channel.STORE_POS, stores=[self.sh01]),
            "pos_any_store": self._key(Channel.STORE_POS),
            "mall": self._key(Channel.MINI_PROGRAM),
            "pos_no_coupons": self._key(Channel.STORE_POS, stores=[self.sh01], scopes=[ApiKey.Scope.ORDERS]),
            "forged": "Api-Key 0000ffff.not-a-secret",
        }

    @staticmethod
    def _key(channel: str, *, stores=(), scopes=None) -> str:
        _, secret = api_key_create(name=channel, channel=channel, stores=stores, scopes=scopes)
        return f"Api-Key {secret}"

    def api_key(self, name: str) -> ApiKey:
        return ApiKey.objects.get(prefix=self.headers[name].removeprefix("Api-Key ").partition(".")[0])

    def coupon(self, *, issued_at: dt.datetime = ISSUED, **template_fields) -> str:
        """The code of a coupon of a new template, sent by lina to a new customer."""
        stores = template_fields.pop("stores", ())
        item = CouponPackItemFactory(template=CouponTemplateFactory(**template_fields))
        item.template.stores.set(stores)
        sent = coupon_pack_send(
            pack_id=item.pack_id,
            customer_id=CustomerFactory().pk,
            request_no=f"send-{item.pk}",
            associate=self.lina,
            now=issued_at,
        )
        return sent.coupons[0].code


def _body(code: str, *, order_ref="POS-1", request_no="R-1", amount="399.00", store: str | None = "SH01") -> dict:
    body = {"code": code, "order_ref": order_ref, "amount": amount, "request_no": request_no}
    if store is not None:
        body["store"] = store
    return body


# Redeem cases: the calls a till makes (API key, body), and what the last one must answer ---------------------------


@dataclass(frozen=True)
class Case:
    calls: Callable[[World], list[tuple[str, dict]]]
    status: int
    code: str = ""  # the refusal's code, when the last call is refused
    about_the_key: bool = False  # refused for the key or the store before any coupon is read


_CASES = {
    "redeemed": Case(lambda w: [("pos", _body(w.coupon()))], 201),
    "redeemed_online": Case(lambda w: [("mall", _body(w.coupon(), store=None))], 201),
    "redeemed_percent_off": Case(
        lambda w: [
            (
                "pos",
                _body(
                    w.coupon(
                        kind=CouponTemplate.Kind.PERCENT_OFF,
                        value=Decimal("15"),
                        threshold=Decimal("0"),
                        max_discount=Decimal("40.00"),
                    ),
                    amount="199.90",
                ),
            )
        ],
        201,
    ),
    "redeemed_gift": Case(
        lambda w: [
            (
                "pos",
                _body(
                    w.coupon(
                        kind=CouponTemplate.Kind.GIFT,
                        value=Decimal("0"),
                        threshold=Decimal("0"),
                        gift_product=ProductFactory(sku="GIFT-1"),
                    )
                ),
            )
        ],
        201,
    ),
    "replayed": Case(lambda w: [("pos", _body(code := w.coupon())), ("pos", _body(code))], 200),
    "replayed_by_another_key": Case(
        lambda w: [("pos", _body(code := w.coupon())), ("pos_any_store", _body(code))], 409, "request_no_reused"
    ),
    "request_no_used_for_another_coupon": Case(
        lambda w: [("pos", _body(w.coupon())), ("pos", _body(w.coupon(), order_ref="POS-2"))], 409, "request_no_reused"
    ),
    "already_redeemed": Case(
        lambda w: [("pos", _body(code := w.coupon())), ("pos", _body(code, order_ref="POS-2", request_no="R-2"))],
        409,
        "already_redeemed",
    ),
    "not_combinable": Case(
        lambda w: [
            ("pos", _body(w.coupon(stacking=CouponTemplate.Stacking.EXCLUSIVE))),
            ("pos", _body(w.coupon(stacking=CouponTemplate.Stacking.COMBINABLE), request_no="R-2")),
        ],
        409,
        "not_combinable",
    ),
    "combined": Case(
        lambda w: [
            ("pos", _body(w.coupon(stacking=CouponTemplate.Stacking.COMBINABLE))),
            ("pos", _body(w.coupon(stacking=CouponTemplate.Stacking.COMBINABLE), request_no="R-2")),
        ],
        201,
    ),
    "revoked": Case(lambda w: [("pos", _body(_revoked(w.coupon())))], 409, "revoked"),
    "expired": Case(lambda w: [("pos", _body(w.coupon(issued_at=NOW - dt.timedelta(days=40))))], 422, "expired"),
    "not_yet_valid": Case(lambda w: [("pos", _body(w.coupon(valid_delay_days=3)))], 422, "not_yet_valid"),
    "not_valid_today": Case(lambda w: [("pos", _body(w.coupon(weekdays=[6, 7])))], 422, "not_valid_today"),
    "not_valid_now": Case(lambda w: [("pos", _body(w.coupon(day_starts=dt.time(18))))], 422, "not_valid_now"),
    "wrong_channel": Case(lambda w: [("pos", _body(w.coupon(channels=Channels.ONLINE)))], 422, "wrong_channel"),
    "wrong_store": Case(
        lambda w: [("pos_any_store", _body(w.coupon(stores=[w.bj01])))],
        422,
        "wrong_store",
    ),
    "lines_required": Case(
        lambda w: [("pos", _body(w.coupon(scope=CouponTemplate.Scope.CATEGORIES, categories=["dress"])))],
        422,
        "lines_required",
    ),
    "below_threshold": Case(lambda w: [("pos", _body(w.coupon(), amount="299.99"))], 422, "below_threshold"),
    "unknown_code": Case(lambda w: [("pos", _body("ZZZZ-ZZZZ-ZZZZ"))], 404, "unknown_code"),
    "invalid_api_key": Case(lambda w: [("forged", _body(w.coupon()))], 401, "invalid_api_key", about_the_key=True),
    "scope_missing": Case(lambda w: [("pos_no_coupons", _body(w.coupon()))], 403, "scope_missing", about_the_key=True),
    "store_required": Case(
        lambda w: [("pos", _body(w.coupon(), store=None))], 400, "store_required", about_the_key=True
    ),
    "unknown_store": Case(
        lambda w: [("pos", _body(w.coupon(), store="SH99"))], 404, "unknown_store", about_the_key=True
    ),
    "store_not_allowed": Case(
        lambda w: [("pos", _body(w.coupon(), store="BJ01"))], 403, "store_not_allowed", about_the_key=True
    ),
}
# The rules a coupon breaks, which validating answers as redeeming does; the cases that break one of them or
# redeem now are validated too.
_QUOTE_CODES = {
    "revoked",
    "expired",
    "not_yet_valid",
    "not_valid_today",
    "not_valid_now",
    "wrong_channel",
    "wrong_store",
    "lines_required",
    "below_threshold",
    "unknown_code",
}
_QUOTED = [name for name, case in _CASES.items() if case.code in _QUOTE_CODES or case.status == 201]


def _revoked(code: str) -> str:
    coupon_revoke(coupon_id=Coupon.objects.get(code=code).pk)
    return code


def _redeem_rows() -> dict:
    """Every row a redemption may write or touch, without the ids a sequence hands out."""
    return {
        "coupons": list(Coupon.objects.order_by("code").values_list("code", "status", "redeemed_at")),
        "ledger": list(
            Redemption.objects.order_by("request_no").values_list(
                "request_no",
                "kind",
                "coupon__code",
                "channel",
                "store_id",
                "order_ref",
                "amount",
                "discount",
                "credited_associate_id",
                "credited_store_id",
                "api_key_id",
                "created_at",
            )
        ),
        "orders": list(
            CouponOrder.objects.order_by("channel", "order_ref").values_list(
                "channel", "order_ref", "coupons", "exclusive"
            )
        ),
        "keys_used": list(ApiKey.objects.order_by("pk").values_list("pk", "last_used_at")),
    }


def _post(view, *, header: str, path: str, body: dict):
    request = RequestFactory().post(
        path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=header
    )
    response = view(request)
    if isinstance(response, Response):
        response.render()
    return response


def _answer(response) -> tuple:
    """The status, the body and every header a view sets (the middleware's are the same for both)."""
    return response.status_code, response.content.decode(), dict(response.headers)


def _through(view, world: World, calls: list[tuple[str, dict]], *, fast: bool) -> dict:
    answers = []
    for key, body in calls:
        response = _post(view, header=world.headers[key], path=REDEEM, body=body)
        assert isinstance(response, Response) != fast, "each path must answer every call itself"
        answers.append(_answer(response))
    return {"answers": answers, "rows": _redeem_rows()}


@pytest.mark.parametrize("name", list(_CASES))
def test_the_tills_fast_dispatch_answers_and_writes_what_drf_does(name):
    world, case = World(), _CASES[name]
    calls = case.calls(world)

    fast = _rolled_back(lambda: _through(CouponRedeemApi.as_view(), world, calls, fast=True))
    general = _rolled_back(lambda: _through(CouponRedeemApi.as_view(till_fast_path=False), world, calls, fast=False))

    assert fast == general
    status, content = fast["answers"][-1][:2]
    assert status == case.status
    if case.code:
        assert json.loads(content)["error"]["code"] == case.code
    assert fast["rows"] != _redeem_rows() or case.code, "a redemption was written (and rolled back)"


@pytest.mark.parametrize("name", _QUOTED)
def test_a_coupon_read_by_the_tills_statement_is_judged_as_the_orm_read_one_is(name):
    """Validating reads the coupon through the ORM (coupon_by_code, the template's stores); redeeming through the
    till's one statement. The same coupon on the same order: the same refusal, or the same discount and gift."""
    world, case = World(), _CASES[name]
    *before, (key, body) = case.calls(world)

    def last_call(view, path: str, body: dict):
        for earlier_key, earlier in before:
            _post(CouponRedeemApi.as_view(), header=world.headers[earlier_key], path=REDEEM, body=earlier)
        return _post(view, header=world.headers[key], path=path, body=body)

    redeemed = _rolled_back(lambda: last_call(CouponRedeemApi.as_view(), REDEEM, body))
    quoted = _rolled_back(lambda: last_call(CouponValidateApi.as_view(), VALIDATE, body))

    if case.code:
        assert (quoted.status_code, quoted.content) == (redeemed.status_code, redeemed.content)
    else:
        assert quoted.status_code == 200
        answer, quote = json.loads(redeemed.content), json.loads(quoted.content)
        assert (quote["discount"], quote["gift_sku"]) == (answer["discount"], answer["gift_sku"])


# Redeeming: the one-statement write against the locked one ---------------------------------------------------------


def _redeemed_by(redeem, world: World, calls: list[tuple[str, dict]]) -> dict:
    answers = []
    for key, body in calls:
        fields = redeem_fields_plain(body)
        api_key = world.api_key(key)
        order = order_in(api_key=api_key, data=fields)
        try:
            redeemed = redeem(
                code=fields["code"], order=order, request_no=fields["request_no"], api_key=api_key, now=NOW
            )
        except ApplicationError as error:
            answers.append((error.status_code, api_error_body(error)))
            continue
        answers.append(
            (201 if redeemed.created else 200, redemption_body(redemption_shown(redeemed), status="redeemed"))
        )
    return {"answers": answers, "rows": _redeem_rows()}


@pytest.mark.postgres
@pytest.mark.parametrize("name", [name for name, case in _CASES.items() if not case.about_the_key])
def test_the_guarded_statement_answers_and_writes_what_the_locked_path_does(name):
    world, case = World(), _CASES[name]
    calls = case.calls(world)

    guarded = _rolled_back(lambda: _redeemed_by(coupon_redeem_guarded, world, calls))
    locked = _rolled_back(lambda: _redeemed_by(coupon_redeem_locked, world, calls))

    assert guarded == locked
    status, answer = guarded["answers"][-1]
    assert status == case.status
    assert answer.get("error", {}).get("code", "") == case.code


# Sending: one customer at a time against a campaign's batch --------------------------------------------------------

PREFIX = "campaign:7"


@dataclass(frozen=True)
class SendCase:
    pack: Callable[[World], int]  # the pack's id
    outcome: tuple  # ("issued",) | ("replayed",) | ("skipped", code) | ("error", code), of the last send
    sends: int = 1
    customer_exists: bool = True
    holds_one: bool = False  # the customer already holds one coupon of the pack's (first) template


def _pack(*items: dict, **pack_fields) -> int:
    pack = CouponPackFactory(**pack_fields)
    for item in items:
        CouponPackItemFactory(
            pack=pack, template=CouponTemplateFactory(**item.get("template", {})), quantity=item.get("quantity", 1)
        )
    return pack.pk


_TWO = (
    {"template": {"per_day_limit": 10, "per_customer_limit": 2}, "quantity": 2},
    {"template": {"value": Decimal("20.00")}},
)
_SEND_CASES = {
    "issued": SendCase(lambda w: _pack(*_TWO), ("issued",)),
    "replayed": SendCase(lambda w: _pack(*_TWO), ("replayed",), sends=2),
    "pack_unavailable": SendCase(
        lambda w: _pack(*_TWO, status=CouponPack.Status.PAUSED), ("skipped", "pack_unavailable")
    ),
    "template_unavailable": SendCase(
        lambda w: _pack({"template": {"status": CouponTemplate.Status.PAUSED}}), ("skipped", "template_unavailable")
    ),
    "template_ended": SendCase(
        lambda w: _pack(
            {
                "template": {
                    "valid_days": None,
                    "valid_from": NOW - dt.timedelta(days=9),
                    "valid_until": NOW - dt.timedelta(days=2),
                }
            }
        ),
        ("skipped", "template_ended"),
    ),
    "out_of_stock": SendCase(
        lambda w: _pack({"template": {"total_stock": 1, "per_customer_limit": 2}, "quantity": 2}),
        ("skipped", "out_of_stock"),
    ),
    "daily_limit_reached": SendCase(
        lambda w: _pack({"template": {"per_day_limit": 1, "per_customer_limit": 2}, "quantity": 2}),
        ("skipped", "daily_limit_reached"),
    ),
    "limit_reached": SendCase(lambda w: _pack({}), ("skipped", "limit_reached"), holds_one=True),
    "budget_exhausted": SendCase(lambda w: _pack(*_TWO, budget=Decimal("119.99")), ("skipped", "budget_exhausted")),
    "customer_not_found": SendCase(lambda w: _pack(*_TWO), ("skipped", "customer_not_found"), customer_exists=False),
    "pack_empty": SendCase(lambda w: _pack(), ("error", "pack_empty")),
    "pack_not_found": SendCase(lambda w: 0, ("error", "pack_not_found")),
}


def _send_rows() -> dict:
    """Every row a send may write, without the ids a sequence hands out or the coupons' random codes; an
    associate's daily quota (AssociatePackDay) is a single send's alone."""
    return {
        "ledger": list(
            IssueRequest.objects.order_by("request_no").values_list(
                "request_no", "pack_id", "customer_id", "associate_id", "store_id", "source", "cost", "created_at"
            )
        ),
        "coupons": sorted(
            Coupon.objects.values_list(
                "issue_request__request_no",
                "template_id",
                "customer_id",
                "associate_id",
                "store_id",
                "valid_from",
                "valid_until",
                "status",
                "issued_at",
                "redeemed_at",
            )
        ),
        "packs": list(CouponPack.objects.order_by("pk").values_list("pk", "spent")),
        "templates": list(CouponTemplate.objects.order_by("pk").values_list("pk", "issued_count")),
        "template_days": list(
            TemplateDay.objects.order_by("template_id", "day").values_list("template_id", "day", "issued")
        ),
        "holdings": list(
            CustomerHolding.objects.order_by("template_id", "customer_id").values_list(
                "template_id", "customer_id", "issued"
            )
        ),
    }


def _sent_one(world: World, *, pack_id: int, customer_id: int) -> tuple:
    try:
        sent = coupon_pack_send(
            pack_id=pack_id,
            customer_id=customer_id,
            request_no=f"{PREFIX}:{customer_id}",
            associate=world.lina,
            source=IssueRequest.Source.CAMPAIGN,
            now=NOW,
        )
    except ApplicationError as error:
        return ("skipped", error.code) if error.code not in ("pack_not_found", "pack_empty") else ("error", error.code)
    return ("issued",) if sent.created else ("replayed",)


def _sent_many(world: World, *, pack_id: int, customer_id: int) -> tuple:
    try:
        sent = coupon_pack_send_many(
            pack_id=pack_id, recipients=[(customer_id, world.lina.pk)], request_prefix=PREFIX, now=NOW
        )
    except ApplicationError as error:
        return ("error", error.code)
    if sent.issued:
        return ("issued",)
    if sent.replayed:
        return ("replayed",)
    (code,) = sent.skipped
    return ("skipped", code)


@pytest.mark.parametrize("name", list(_SEND_CASES))
def test_a_campaigns_batch_sends_one_customer_what_a_single_send_does(name):
    world, case = World(), _SEND_CASES[name]
    pack_id = case.pack(world)
    customer_id = CustomerFactory().pk if case.customer_exists else 999_999
    if case.holds_one:
        earlier = CouponPackItemFactory(template=CouponTemplate.objects.filter(pack_items__pack_id=pack_id).first())
        coupon_pack_send(pack_id=earlier.pack_id, customer_id=customer_id, request_no="earlier", associate=None)

    def sends(send) -> dict:
        outcomes = [send(world, pack_id=pack_id, customer_id=customer_id) for _ in range(case.sends)]
        return {"outcome": outcomes[-1], "rows": _send_rows()}

    one = _rolled_back(lambda: sends(_sent_one))
    many = _rolled_back(lambda: sends(_sent_many))

    assert one == many
    assert one["outcome"] == case.outcome
