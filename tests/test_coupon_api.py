"""The coupon API for POS and mall: exact discounts, every rule's stable code, failures that write nothing,
replays by request number, stacking, returns, and the validity window's edges at midnight in Shanghai."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from coupons.models import Coupon, CouponOrder, Redemption, code_display
from coupons.redemption import OrderIn, coupon_revoke
from coupons.sending import coupon_pack_send
from coupons.till import coupon_redeem
from customers.ingestion import api_key_create
from customers.models import Channel
from omni.errors import ApplicationError
from tests.factories import (
    AssociateFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    ProductFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db

VALIDATE, REDEEM, RETURN = "/api/v1/coupons/validate/", "/api/v1/coupons/redeem/", "/api/v1/coupons/return/"


@pytest.fixture
def till():
    """Store SH01, where the till is, and its associate who sends the coupons."""
    store = StoreFactory(code="SH01", name="静安店")
    return store, AssociateFactory(wecom_userid="lina", store=store)


def _client(channel=Channel.STORE_POS, stores=()) -> APIClient:
    _, secret = api_key_create(name="POS", channel=channel, stores=stores)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def _issue(associate, *, now=None, **template_fields) -> Coupon:
    """One coupon of a new template, sent to a new customer by `associate` (at `now`, default the real time)."""
    item = CouponPackItemFactory(template=CouponTemplateFactory(**template_fields))
    sent = coupon_pack_send(
        pack_id=item.pack_id,
        customer_id=CustomerFactory().pk,
        request_no=f"send-{item.pk}",
        associate=associate,
        now=now,
    )
    return sent.coupons[0]


def _body(coupon: Coupon, *, amount="399.00", order_ref="POS-1", request_no="R-1", store="SH01", **extra) -> dict:
    body = {"code": coupon.code, "order_ref": order_ref, "amount": amount, "request_no": request_no, **extra}
    if store is not None:
        body["store"] = store
    return body


def _unchanged(coupon: Coupon) -> None:
    """The failure wrote nothing: the coupon as issued, no ledger row, no order holding coupons."""
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.ISSUED
    assert Coupon.objects.get(pk=coupon.pk).redeemed_at is None
    assert Redemption.objects.count() == 0
    assert CouponOrder.objects.filter(coupons__gt=0).count() == 0


# Validate (dry run) ----------------------------------------------------------------------------------------------


def test_validate_quotes_a_threshold_coupon_and_writes_nothing(till):
    _, associate = till
    coupon = _issue(associate)

    response = _client().post(
        VALIDATE, {"code": code_display(coupon.code).lower(), "store": "SH01", "amount": "399.00"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "code": coupon.code,
        "valid": True,
        "discount": "50.00",
        "gift_sku": "",
        "coupon": {
            "name": coupon.template.name,
            "kind": "threshold",
            "rule_text": "满300减50",
            "stacking": "exclusive",
            "channels": "both",
            "valid_from": timezone.localtime(coupon.valid_from).isoformat(),
            "valid_until": timezone.localtime(coupon.valid_until).isoformat(),
        },
    }
    assert body["coupon"]["valid_until"].endswith("T00:00:00+08:00")
    _unchanged(coupon)


def test_validate_caps_a_percent_off_coupon(till):
    _, associate = till
    coupon = _issue(associate, kind="percent_off", value=Decimal("15"), threshold=0, max_discount=Decimal("30.00"))
    client = _client()

    small = client.post(VALIDATE, {"code": coupon.code, "store": "SH01", "amount": "100.00"}, format="json")
    large = client.post(VALIDATE, {"code": coupon.code, "store": "SH01", "amount": "399.00"}, format="json")

    assert small.json()["discount"] == "15.00"
    assert large.json()["discount"] == "30.00"
    assert large.json()["coupon"]["rule_text"] == "8.5折，最多减30元"
    _unchanged(coupon)


def test_validate_gives_an_amount_off_coupon_never_more_than_the_order(till):
    _, associate = till
    coupon = _issue(associate, kind="amount_off", value=Decimal("20.00"), threshold=0)
    client = _client()

    usual = client.post(VALIDATE, {"code": coupon.code, "store": "SH01", "amount": "88.00"}, format="json")
    tiny = client.post(VALIDATE, {"code": coupon.code, "store": "SH01", "amount": "12.50"}, format="json")

    assert usual.json()["discount"] == "20.00"
    assert tiny.json()["discount"] == "12.50"


def test_validate_names_the_gift_sku_of_a_gift_coupon(till):
    _, associate = till
    scarf = ProductFactory(sku="SCARF-01", name="丝巾")
    coupon = _issue(associate, kind="gift", value=Decimal("99.00"), threshold=Decimal("500.00"), gift_product=scarf)

    response = _client().post(VALIDATE, {"code": coupon.code, "store": "SH01", "amount": "520.00"}, format="json")

    assert response.status_code == 200
    assert (response.json()["discount"], response.json()["gift_sku"]) == ("0.00", "SCARF-01")
    assert response.json()["coupon"]["rule_text"] == "满500元赠丝巾"


def test_validate_reports_the_rule_broken_and_writes_nothing(till):
    _, associate = till
    coupon = _issue(associate)

    response = _client().post(VALIDATE, {"code": coupon.code, "store": "SH01", "amount": "299.99"}, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "below_threshold"
    assert response.json()["error"]["message"] == "适用商品满 300 元才能使用，当前 299.99 元。"
    _unchanged(coupon)


# Redeem ----------------------------------------------------------------------------------------------------------


def test_redeem_uses_the_coupon_once_and_credits_its_sender(till):
    store, associate = till
    coupon = _issue(associate)

    response = _client(stores=[store]).post(REDEEM, _body(coupon), format="json")

    assert response.status_code == 201
    redemption = Redemption.objects.get()
    assert response.json() == {
        "code": coupon.code,
        "discount": "50.00",
        "order_ref": "POS-1",
        "amount": "399.00",
        "channel": "store",
        "store": "SH01",
        "request_no": "R-1",
        "credited": {"associate": "lina", "store": "SH01"},
        "status": "redeemed",
        "gift_sku": "",
        "redeemed_at": timezone.localtime(redemption.created_at).isoformat(),
    }
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
    assert (redemption.kind, redemption.discount, redemption.store, redemption.api_key.name) == (
        "redeem",
        Decimal("50.00"),
        store,
        "POS",
    )
    assert (redemption.credited_associate, redemption.credited_store) == (associate, store)


@pytest.mark.parametrize(
    ("template", "amount", "discount", "gift_sku"),
    [
        ({}, "300.00", "50.00", ""),
        (
            {"kind": "percent_off", "value": Decimal("15"), "threshold": 0, "max_discount": Decimal("100")},
            "201.00",
            "30.15",
            "",
        ),
        (
            {"kind": "percent_off", "value": Decimal("15"), "threshold": 0, "max_discount": Decimal("30")},
            "999.00",
            "30.00",
            "",
        ),
        ({"kind": "amount_off", "value": Decimal("20"), "threshold": 0}, "59.00", "20.00", ""),
        ({"kind": "gift", "value": Decimal("99"), "threshold": 0}, "10.00", "0.00", "GIFT-1"),
    ],
    ids=["threshold", "percent", "percent-capped", "amount-off", "gift"],
)
def test_redeem_takes_the_exact_discount_of_each_kind(till, template, amount, discount, gift_sku):
    _, associate = till
    if template.get("kind") == "gift":
        template["gift_product"] = ProductFactory(sku="GIFT-1")
    coupon = _issue(associate, **template)

    response = _client().post(REDEEM, _body(coupon, amount=amount), format="json")

    assert response.status_code == 201
    assert (response.json()["discount"], response.json()["gift_sku"]) == (discount, gift_sku)
    assert Redemption.objects.get().discount == Decimal(discount)


def test_an_online_key_redeems_online_without_a_store(till):
    _, associate = till
    coupon = _issue(associate)

    response = _client(channel=Channel.MINI_PROGRAM).post(REDEEM, _body(coupon, store=None), format="json")

    assert response.status_code == 201
    assert (response.json()["channel"], response.json()["store"]) == ("online", None)
    assert Redemption.objects.get().channel == "online"


@pytest.mark.postgres
def test_the_tills_statements_are_prepared_once_per_connection(till, settings):
    if not settings.DATABASE_PREPARED_STATEMENTS:
        pytest.skip("prepared statements are off (DATABASE_PREPARED_STATEMENTS=false, e.g. behind PgBouncer)")
    _, associate = till
    coupons, client = [_issue(associate) for _ in range(3)], _client()

    statuses = [
        client.post(REDEEM, _body(c, order_ref=f"POS-{n}", request_no=f"R-{n}"), format="json").status_code
        for n, c in enumerate(coupons)
    ]

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = sorted(row[0].split(" ", 2)[:2] for row in cursor.fetchall())
    assert statuses == [201, 201, 201]
    # The key with the till's store, the coupon with its template, and the guarded write: one plan each.
    assert prepared == [["SELECT", "c.id,"], ["SELECT", "k.id,"], ["WITH", "marked"]]
    assert Redemption.objects.count() == 3


def test_a_replay_answers_the_same_body_with_200_and_writes_nothing(till):
    _, associate = till
    coupon = _issue(associate)
    client = _client()
    first = client.post(REDEEM, _body(coupon), format="json")

    again = client.post(REDEEM, _body(coupon), format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Redemption.objects.count() == 1
    assert CouponOrder.objects.get().coupons == 1


def test_a_request_no_used_for_another_coupon_is_refused(till):
    _, associate = till
    first, second = _issue(associate), _issue(associate)
    client = _client()
    client.post(REDEEM, _body(first, request_no="R-7"), format="json")

    response = client.post(REDEEM, _body(second, request_no="R-7", order_ref="POS-2"), format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "request_no_reused"
    assert Coupon.objects.get(pk=second.pk).status == Coupon.Status.ISSUED
    assert Redemption.objects.count() == 1


def test_a_redeemed_coupon_cannot_be_redeemed_again_on_another_order(till):
    _, associate = till
    coupon = _issue(associate)
    client = _client()
    client.post(REDEEM, _body(coupon), format="json")
    used_at = Coupon.objects.get(pk=coupon.pk).redeemed_at

    response = client.post(REDEEM, _body(coupon, request_no="R-2", order_ref="POS-2"), format="json")

    assert response.status_code == 409
    assert response.json()["error"] == {"code": "already_redeemed", "message": "这张券已经使用过了。"}
    assert Coupon.objects.get(pk=coupon.pk).redeemed_at == used_at
    assert Redemption.objects.count() == 1
    assert not CouponOrder.objects.filter(order_ref="POS-2").exists()


def _expired(associate):
    return _issue(associate, valid_days=1, now=timezone.now() - dt.timedelta(days=3))


def _not_yet_valid(associate):
    return _issue(associate, valid_days=5, valid_delay_days=2)


def _other_store_only(associate):
    coupon = _issue(associate)
    coupon.template.stores.set([StoreFactory(code="SH02")])
    return coupon


def _online_only(associate):
    return _issue(associate, channels="online")


def _skus_only(associate):
    coupon = _issue(associate, scope="skus")
    coupon.template.products.add(ProductFactory(sku="DRESS-1"))
    return coupon


def _revoked(associate):
    coupon = _issue(associate)
    coupon_revoke(coupon_id=coupon.pk)
    return coupon


@pytest.mark.parametrize(
    ("make", "extra", "status", "code"),
    [
        (_expired, {}, 422, "expired"),
        (_not_yet_valid, {}, 422, "not_yet_valid"),
        (_other_store_only, {}, 422, "wrong_store"),
        (_online_only, {}, 422, "wrong_channel"),
        (_issue, {"amount": "299.99"}, 422, "below_threshold"),
        (_skus_only, {"lines": [{"sku": "BELT-1", "amount": "399.00"}]}, 422, "not_applicable"),
        (_skus_only, {}, 422, "lines_required"),
    ],
)
def test_a_coupon_breaking_a_rule_is_refused_with_its_code_and_nothing_changes(till, make, extra, status, code):
    _, associate = till
    coupon = make(associate)

    response = _client().post(REDEEM, _body(coupon, **extra), format="json")

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    _unchanged(coupon)


def test_a_revoked_coupon_is_refused_and_stays_revoked(till):
    _, associate = till
    coupon = _revoked(associate)

    response = _client().post(REDEEM, _body(coupon), format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "revoked"
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REVOKED
    assert Redemption.objects.count() == 0


def test_a_sku_coupon_counts_only_its_skus_towards_the_threshold(till):
    _, associate = till
    ProductFactory(sku="BELT-1")
    coupon = _skus_only(associate)
    lines = [{"sku": "DRESS-1", "amount": "320.00"}, {"sku": "BELT-1", "amount": "79.00"}]

    response = _client().post(REDEEM, _body(coupon, lines=lines), format="json")

    assert response.status_code == 201
    assert response.json()["discount"] == "50.00"


def test_an_unknown_code_is_404(till):
    response = _client().post(
        REDEEM,
        {"code": "ZZZZ ZZZZ ZZZZ", "store": "SH01", "order_ref": "P", "amount": "1.00", "request_no": "R"},
        format="json",
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_code"
    assert Redemption.objects.count() == 0


def test_a_wrong_api_key_is_401_and_changes_nothing(till):
    _, associate = till
    coupon = _issue(associate)
    api_key, _ = api_key_create(name="POS", channel=Channel.STORE_POS)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key.prefix}.not-the-secret")

    response = client.post(REDEEM, _body(coupon), format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    _unchanged(coupon)


def test_no_api_key_is_401(till):
    _, associate = till
    coupon = _issue(associate)

    response = APIClient().post(REDEEM, _body(coupon), format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    _unchanged(coupon)


def test_a_key_limited_to_stores_cannot_redeem_at_another_store(till):
    store, associate = till
    StoreFactory(code="SH02")
    coupon = _issue(associate)

    response = _client(stores=[store]).post(REDEEM, _body(coupon, store="SH02"), format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "store_not_allowed"
    _unchanged(coupon)


def test_an_unknown_store_is_404_and_a_pos_key_must_name_its_store(till):
    _, associate = till
    coupon = _issue(associate)
    client = _client()

    unknown = client.post(REDEEM, _body(coupon, store="NOPE"), format="json")
    missing = client.post(REDEEM, _body(coupon, store=None), format="json")

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_store")
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "store_required")
    _unchanged(coupon)


def test_an_invalid_body_is_400_with_the_fields_at_fault(till):
    _, associate = till
    coupon = _issue(associate)

    response = _client().post(
        REDEEM, {"code": coupon.code, "store": "SH01", "amount": "-5", "lines": [{"sku": "X"}]}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["details"]) == {"order_ref", "amount", "request_no", "lines"}
    assert error["details"]["lines"] == {"0": {"amount": ["该字段是必填项。"]}}
    _unchanged(coupon)


@pytest.mark.parametrize("amount", ["0.00", "12.345", "abc"])
def test_an_amount_must_be_positive_with_two_decimals(till, amount):
    _, associate = till
    coupon = _issue(associate)

    response = _client().post(REDEEM, _body(coupon, amount=amount), format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["amount"]
    _unchanged(coupon)


# Stacking --------------------------------------------------------------------------------------------------------


def test_no_coupon_joins_an_exclusive_one_on_the_same_order(till):
    _, associate = till
    exclusive = _issue(associate)
    combinable = _issue(associate, stacking="combinable")
    client = _client()
    client.post(REDEEM, _body(exclusive, order_ref="POS-9", request_no="R-1"), format="json")

    response = client.post(REDEEM, _body(combinable, order_ref="POS-9", request_no="R-2"), format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_combinable"
    assert Coupon.objects.get(pk=combinable.pk).status == Coupon.Status.ISSUED
    assert Redemption.objects.count() == 1
    assert CouponOrder.objects.get(order_ref="POS-9").coupons == 1


def test_two_combinable_coupons_share_an_order(till):
    _, associate = till
    first = _issue(associate, stacking="combinable")
    second = _issue(associate, kind="amount_off", value=Decimal("20"), threshold=0, stacking="combinable")
    client = _client()

    one = client.post(REDEEM, _body(first, order_ref="POS-9", request_no="R-1"), format="json")
    two = client.post(REDEEM, _body(second, order_ref="POS-9", request_no="R-2"), format="json")

    assert (one.status_code, two.status_code) == (201, 201)
    assert CouponOrder.objects.get(order_ref="POS-9").coupons == 2
    assert sorted(Redemption.objects.values_list("discount", flat=True)) == [Decimal("20.00"), Decimal("50.00")]


def test_an_exclusive_coupon_cannot_join_combinable_ones(till):
    _, associate = till
    combinable = _issue(associate, stacking="combinable")
    exclusive = _issue(associate)
    client = _client()
    client.post(REDEEM, _body(combinable, order_ref="POS-9", request_no="R-1"), format="json")

    response = client.post(REDEEM, _body(exclusive, order_ref="POS-9", request_no="R-2"), format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_combinable"
    assert Coupon.objects.get(pk=exclusive.pk).status == Coupon.Status.ISSUED


# Return ----------------------------------------------------------------------------------------------------------


def test_a_returned_coupon_can_be_redeemed_again_on_another_order(till):
    _, associate = till
    coupon = _issue(associate)
    client = _client()
    client.post(REDEEM, _body(coupon, order_ref="POS-1", request_no="R-1"), format="json")

    returned = client.post(
        RETURN, {"code": coupon.code, "store": "SH01", "order_ref": "POS-1", "request_no": "RT-1"}, format="json"
    )
    again = client.post(REDEEM, _body(coupon, order_ref="POS-2", request_no="R-2"), format="json")

    assert returned.status_code == 201
    ledger = Redemption.objects.get(request_no="RT-1")
    assert returned.json() == {
        "code": coupon.code,
        "discount": "50.00",
        "order_ref": "POS-1",
        "amount": "399.00",
        "channel": "store",
        "store": "SH01",
        "request_no": "RT-1",
        "credited": {"associate": "lina", "store": "SH01"},
        "status": "returned",
        "returned_at": timezone.localtime(ledger.created_at).isoformat(),
    }
    assert again.status_code == 201
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
    assert list(Redemption.objects.order_by("pk").values_list("kind", "order_ref")) == [
        ("redeem", "POS-1"),
        ("return", "POS-1"),
        ("redeem", "POS-2"),
    ]
    assert CouponOrder.objects.get(order_ref="POS-1").coupons == 0


def test_a_return_replay_answers_the_same_body_and_writes_nothing(till):
    _, associate = till
    coupon = _issue(associate)
    client = _client()
    client.post(REDEEM, _body(coupon), format="json")
    body = {"code": coupon.code, "store": "SH01", "order_ref": "POS-1", "request_no": "RT-1"}
    first = client.post(RETURN, body, format="json")

    again = client.post(RETURN, body, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Redemption.objects.filter(kind="return").count() == 1


def test_a_return_for_another_order_or_an_unused_coupon_is_refused(till):
    _, associate = till
    used, unused = _issue(associate), _issue(associate)
    client = _client()
    client.post(REDEEM, _body(used), format="json")

    wrong = client.post(
        RETURN, {"code": used.code, "store": "SH01", "order_ref": "POS-X", "request_no": "RT-1"}, format="json"
    )
    never = client.post(
        RETURN, {"code": unused.code, "store": "SH01", "order_ref": "POS-1", "request_no": "RT-2"}, format="json"
    )

    assert (wrong.status_code, wrong.json()["error"]["code"]) == (409, "wrong_order")
    assert (never.status_code, never.json()["error"]["code"]) == (409, "not_redeemed")
    assert Coupon.objects.get(pk=used.pk).status == Coupon.Status.REDEEMED
    assert Redemption.objects.count() == 1


def test_a_key_limited_to_stores_cannot_return_at_another_store(till):
    store, associate = till
    StoreFactory(code="SH02")
    coupon = _issue(associate)
    _client().post(REDEEM, _body(coupon), format="json")

    response = _client(stores=[store]).post(
        RETURN, {"code": coupon.code, "store": "SH02", "order_ref": "POS-1", "request_no": "RT-1"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "store_not_allowed"
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
    assert Redemption.objects.count() == 1


# The window's edges, at midnight in Shanghai (service level: the time is passed in) --------------------------------

MIDNIGHT = timezone.make_aware(dt.datetime(2026, 12, 1))  # 2026-12-01 00:00 Asia/Shanghai = 11-30 16:00 UTC


def _order(store, ref: str) -> OrderIn:
    return OrderIn(channel="store", store=store, order_ref=ref, amount=Decimal("399.00"))


def test_a_coupon_ending_at_midnight_is_good_until_the_last_second_of_the_day(till):
    store, associate = till
    coupon = _issue(associate, valid_days=None, valid_until=MIDNIGHT, now=MIDNIGHT - dt.timedelta(days=10))

    redeemed = coupon_redeem(
        code=coupon.code, order=_order(store, "P1"), request_no="R-1", now=MIDNIGHT - dt.timedelta(seconds=1)
    )

    assert dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC) == MIDNIGHT
    assert redeemed.created is True
    assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED


def test_a_coupon_ending_at_midnight_is_expired_at_midnight(till):
    store, associate = till
    coupon = _issue(associate, valid_days=None, valid_until=MIDNIGHT, now=MIDNIGHT - dt.timedelta(days=10))

    with pytest.raises(ApplicationError) as error:
        coupon_redeem(code=coupon.code, order=_order(store, "P1"), request_no="R-1", now=MIDNIGHT)

    assert (error.value.code, error.value.status_code) == ("expired", 422)
    assert error.value.message == "这张券已于 2026-12-01 00:00 过期。"
    _unchanged(coupon)


def test_a_coupon_starting_at_midnight_is_not_valid_a_second_before(till):
    store, associate = till
    issued = MIDNIGHT - dt.timedelta(hours=10)  # 14:00 on 11-30 in Shanghai; valid from the next midnight
    coupon = _issue(associate, valid_days=7, valid_delay_days=1, now=issued)

    with pytest.raises(ApplicationError) as early:
        coupon_redeem(
            code=coupon.code, order=_order(store, "P1"), request_no="R-1", now=MIDNIGHT - dt.timedelta(seconds=1)
        )
    on_time = coupon_redeem(code=coupon.code, order=_order(store, "P1"), request_no="R-2", now=MIDNIGHT)

    assert coupon.valid_from == MIDNIGHT
    assert early.value.code == "not_yet_valid"
    assert on_time.created is True
    assert list(Redemption.objects.values_list("request_no", flat=True)) == ["R-2"]


# The till's fast path agrees with the documented serializers ---------------------------------------------------

_PLAIN_BODIES = [
    {"code": "ABCD2345EF", "store": "SH01", "order_ref": "POS-1", "amount": "399.00", "request_no": "R-1"},
    {"code": " abcd-2345-ef ", "order_ref": " POS-1 ", "amount": "399", "request_no": " R-1 "},
    {"code": "ABCD2345EF", "store": "", "order_ref": "P", "amount": "0.01", "request_no": "R"},
    {"code": "ABCD2345EF", "order_ref": "P", "amount": "999999999999.99", "request_no": "R" * 64},
]
_OTHER_BODIES = [
    {},
    [],
    "code",
    {"code": "", "order_ref": "P", "amount": "1.00", "request_no": "R"},
    {"code": "   ", "order_ref": "P", "amount": "1.00", "request_no": "R"},
    {"code": "C" * 33, "order_ref": "P", "amount": "1.00", "request_no": "R"},
    {"code": 12345, "order_ref": "P", "amount": "1.00", "request_no": "R"},
    {"code": "C", "store": None, "order_ref": "P", "amount": "1.00", "request_no": "R"},
    {"code": "C", "order_ref": "P" * 65, "amount": "1.00", "request_no": "R"},
    {"code": "C", "order_ref": "P", "amount": "1.00", "request_no": "R" * 65},
    {"code": "C", "order_ref": "P", "amount": "1.00"},
    {"code": "C", "order_ref": "P", "amount": "0.00", "request_no": "R"},
    {"code": "C", "order_ref": "P", "amount": "0.001", "request_no": "R"},
    {"code": "C", "order_ref": "P", "amount": "-1.00", "request_no": "R"},
    {"code": "C", "order_ref": "P", "amount": "1e3", "request_no": "R"},
    {"code": "C", "order_ref": "P", "amount": "NaN", "request_no": "R"},
    {"code": "C", "order_ref": "P", "amount": 399.0, "request_no": "R"},
    {"code": "C", "order_ref": "P", "amount": "1000000000000.00", "request_no": "R"},
    {"code": "C\x00", "order_ref": "P", "amount": "1.00", "request_no": "R"},
    {"code": "C", "order_ref": "单号", "amount": "1.00", "request_no": "R"},
    {"code": "C", "order_ref": "P", "amount": "1.00", "request_no": "R", "lines": []},
]


@pytest.mark.parametrize("body", _PLAIN_BODIES + _OTHER_BODIES)
def test_the_redeem_fast_path_never_accepts_what_the_serializer_rejects_and_reads_what_it_reads(body):
    from coupons.apis import CouponRedeemApi
    from coupons.till_api import redeem_fields_plain

    plain = redeem_fields_plain(body)
    serializer = CouponRedeemApi.InputSerializer(data=body)
    if plain is None:
        assert body not in _PLAIN_BODIES, "the common body must take the fast path"
        return
    assert serializer.is_valid(), serializer.errors
    assert plain == dict(serializer.validated_data)


def test_redeem_and_return_answer_exactly_what_their_documented_serializers_say(till):
    from coupons.apis import RedeemOut, ReturnOut
    from coupons.redemption import Redeemed
    from coupons.till_api import redemption_body, redemption_shown

    store, associate = till
    coupon = _issue(associate)
    client = _client(stores=[store])
    redeemed = client.post(REDEEM, _body(coupon), format="json")
    replayed = client.post(REDEEM, _body(coupon), format="json")
    back = {"code": coupon.code, "store": "SH01", "order_ref": "POS-1", "request_no": "B-1"}
    returned = client.post(RETURN, back, format="json")

    assert (redeemed.status_code, replayed.status_code, returned.status_code) == (201, 200, 201)
    assert redeemed.json() == replayed.json()
    ledger = {r.kind: r for r in Redemption.objects.all()}
    for kind, out, response in (("redeem", RedeemOut, redeemed), ("return", ReturnOut, returned)):
        row = redemption_shown(Redeemed(redemption=ledger[kind], created=False))
        assert response.json() == json.loads(json.dumps(out(row).data))
        assert redemption_body(row, status="redeemed" if kind == "redeem" else "returned") == response.json()


def test_a_till_call_answers_the_same_bytes_on_the_fast_path_and_through_drf(till):
    store, associate = till
    coupon = _issue(associate)
    client = _client(stores=[store])
    first = client.post(REDEEM, _body(coupon), format="json")  # plain body: answered before DRF
    # The same request once more, with the amount as a JSON number: the serializer reads it (DRF's path).
    again = client.post(REDEEM, {**_body(coupon), "amount": 399}, format="json")
    fast_replay = client.post(REDEEM, _body(coupon), format="json")
    unknown = client.post(REDEEM, {**_body(coupon), "code": "ZZZZ-ZZZZ-ZZZZ", "request_no": "R-2"}, format="json")
    unknown_drf = client.post(
        REDEEM, {**_body(coupon), "code": "ZZZZ-ZZZZ-ZZZZ", "request_no": "R-2", "amount": 1}, format="json"
    )

    assert (first.status_code, again.status_code, fast_replay.status_code) == (201, 200, 200)
    assert again.content == fast_replay.content == first.content
    assert (unknown.status_code, unknown_drf.status_code) == (404, 404)
    assert unknown.content == unknown_drf.content
    assert unknown.json() == {"error": {"code": "unknown_code", "message": "没有这个券码。"}}
    assert first["Content-Type"] == again["Content-Type"] == "application/json"
