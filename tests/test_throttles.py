"""Throttles (omni.throttling): made-up coupon codes per API key and forged coupon-page links per address are refused
429 with Retry-After once a caller has used up its failures; a till redeeming genuine codes never is; ingestion
is limited per key. Each test counts under its own cache keys (tests/conftest.py)."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from coupons.apis import CouponRedeemApi
from coupons.links import coupon_page_token
from coupons.models import Coupon, Redemption
from coupons.sending import coupon_pack_send
from customers.ingestion import api_key_create
from customers.models import Channel, Order
from omni.proxy import ForwardedHeadersMiddleware, client_ip
from tests.factories import (
    AssociateFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db

VALIDATE, REDEEM = "/api/v1/coupons/validate/", "/api/v1/coupons/redeem/"
RATES = {"coupon_codes_failed": "10/min", "coupon_page_failed": "10/min", "ingest": "5/min"}


@pytest.fixture(autouse=True)
def _rates():
    with override_settings(OMNI_THROTTLE_RATES=RATES):
        yield


@pytest.fixture
def associate():
    return AssociateFactory(wecom_userid="lina", store=StoreFactory(code="SH01", name="静安店"))


def _key_client(**key) -> APIClient:
    _, secret = api_key_create(name="POS", channel=key.get("channel", Channel.STORE_POS), stores=())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def _coupons(associate, count: int) -> list[Coupon]:
    item = CouponPackItemFactory(template=CouponTemplateFactory(threshold=0, value=10))
    return [
        coupon_pack_send(
            pack_id=item.pack_id, customer_id=CustomerFactory().pk, request_no=f"send-{n}", associate=associate
        ).coupons[0]
        for n in range(count)
    ]


def _redeem_body(code: str, n: int) -> dict:
    return {"code": code, "store": "SH01", "order_ref": f"POS-{n}", "amount": "399.00", "request_no": f"R-{n}"}


def _statuses(responses) -> list[int]:
    return [response.status_code for response in responses]


# Coupon codes per API key ------------------------------------------------------------------------------------------


def test_random_codes_on_validate_are_refused_429_after_the_keys_failures(associate):
    client = _key_client()

    answers = [client.post(VALIDATE, _redeem_body(f"ZZZZ{n:08d}", n), format="json") for n in range(60)]

    assert _statuses(answers) == [404] * 10 + [429] * 50
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_a_throttled_key_is_refused_even_a_genuine_code_and_other_keys_are_not(associate):
    genuine = _coupons(associate, 1)[0]
    guesser, other = _key_client(), _key_client()
    for n in range(10):
        guesser.post(VALIDATE, _redeem_body(f"ZZZZ{n:08d}", n), format="json")

    refused = guesser.post(REDEEM, _redeem_body(genuine.code, 99), format="json")
    redeemed = other.post(REDEEM, _redeem_body(genuine.code, 100), format="json")

    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "throttled")
    assert redeemed.status_code == 201
    assert Redemption.objects.filter(request_no="R-99").count() == 0


@pytest.mark.parametrize("fast_path", [True, False], ids=["till fast path", "through DRF"])
def test_redeem_counts_unknown_codes_on_either_path_and_answers_alike(associate, fast_path, monkeypatch):
    monkeypatch.setattr(CouponRedeemApi, "till_fast_path", fast_path)
    client = _key_client()

    answers = [client.post(REDEEM, _redeem_body(f"ZZZZ{n:08d}", n), format="json") for n in range(12)]

    assert _statuses(answers) == [404] * 10 + [429] * 2
    assert answers[-1].json() == {"error": {"code": "throttled", "message": answers[-1].json()["error"]["message"]}}
    assert "秒后再试" in answers[-1].json()["error"]["message"]
    assert answers[-1]["Retry-After"].isdigit()


def test_a_till_redeeming_many_genuine_codes_is_never_throttled(associate):
    coupons = _coupons(associate, 40)
    client = _key_client()

    answers = [client.post(REDEEM, _redeem_body(coupon.code, n), format="json") for n, coupon in enumerate(coupons)]
    replays = [client.post(REDEEM, _redeem_body(coupon.code, n), format="json") for n, coupon in enumerate(coupons)]

    assert _statuses(answers) == [201] * 40
    assert _statuses(replays) == [200] * 40
    assert Redemption.objects.count() == 40


def test_rule_refusals_of_genuine_codes_do_not_count(associate):
    coupons = _coupons(associate, 1)
    client = _key_client()
    client.post(REDEEM, _redeem_body(coupons[0].code, 0), format="json")

    again = [client.post(REDEEM, _redeem_body(coupons[0].code, n), format="json") for n in range(1, 16)]

    assert _statuses(again) == [409] * 15


# The customer's coupon page per address ---------------------------------------------------------------------------


def test_forged_coupon_page_links_are_refused_429_with_a_page_saying_how_long_to_wait(client):
    answers = [client.get(f"/c/forged{n}:x:y/") for n in range(60)]

    assert _statuses(answers) == [404] * 10 + [429] * 50
    refused = answers[-1]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["Cache-Control"] == "private, no-store"
    assert "秒后再试" in refused.content.decode()


def test_a_throttled_address_does_not_throttle_another_and_a_genuine_link_never_counts(client, associate):
    customer = _coupons(associate, 1)[0].customer
    page = f"/c/{coupon_page_token(customer_id=customer.pk)}/"
    opened = [client.get(page) for _ in range(30)]
    for n in range(10):
        client.get(f"/c/forged{n}:x:y/", REMOTE_ADDR="10.0.0.9")

    assert _statuses(opened) == [200] * 30
    assert client.get(page, REMOTE_ADDR="10.0.0.9").status_code == 429
    assert client.get(page).status_code == 200


# Ingestion per API key --------------------------------------------------------------------------------------------


def _order(n: int) -> dict:
    return {
        "orders": [
            {
                "external_id": f"O{n}",
                "placed_at": "2026-12-01T10:00:00+08:00",
                "lines": [{"sku": "NOPE", "quantity": 1, "unit_price": "10.00"}],
            }
        ]
    }


def test_ingestion_is_limited_per_key():
    first, second = _key_client(channel=Channel.ONLINE_MALL), _key_client(channel=Channel.ONLINE_MALL)

    answers = [first.post("/api/v1/orders/batch", _order(n), format="json") for n in range(7)]
    other = second.post("/api/v1/orders/batch", _order(99), format="json")

    assert [status != 429 for status in _statuses(answers)] == [True] * 5 + [False] * 2
    assert answers[-1].json()["error"]["code"] == "throttled"
    assert answers[-1]["Retry-After"].isdigit()
    assert other.status_code != 429
    assert not Order.objects.filter(external_id__in=["O5", "O6"]).exists()


def test_an_empty_rate_turns_a_throttle_off():
    client = _key_client(channel=Channel.ONLINE_MALL)

    with override_settings(OMNI_THROTTLE_RATES={**RATES, "ingest": ""}):
        answers = [client.post("/api/v1/orders/batch", _order(n), format="json") for n in range(8)]

    assert 429 not in _statuses(answers)


# The client's address ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "proxies,forwarded,expected",
    [
        ([], "1.2.3.4", "10.0.0.1"),  # no trusted proxy: a client's own header is ignored
        (["10.0.0.0/24"], "1.2.3.4", "1.2.3.4"),  # the balancer appended the client's address
        (["10.0.0.0/24"], "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # the left entry is the client's own word
        (["10.0.0.0/24", "172.16.0.9"], "6.6.6.6, 1.2.3.4, 172.16.0.9", "1.2.3.4"),  # a CDN in front of the balancer
        (["10.0.0.0/24"], "1.2.3.4:5678", "1.2.3.4"),
        (["10.0.0.0/24"], "[2001:db8::7]:443", "2001:db8::7"),
        (["10.0.0.0/24"], "not-an-address", "10.0.0.1"),
        (["10.0.0.0/24"], "", "10.0.0.1"),
        (["10.9.0.0/24"], "1.2.3.4", "10.0.0.1"),  # the header came from an address nobody vouches for
    ],
)
def test_the_client_address_behind_trusted_proxies(rf, proxies, forwarded, expected):
    request = rf.get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.0.0.1")

    with override_settings(OMNI_TRUSTED_PROXIES=proxies):
        ForwardedHeadersMiddleware(lambda request: None)(request)
        assert client_ip(request) == expected


def test_with_the_default_rates_the_probes_sixty_guesses_end_in_429s(client, associate):
    from omni import settings as defaults  # the module as the environment made it, not this file's RATES

    key = _key_client()
    with override_settings(OMNI_THROTTLE_RATES=defaults.OMNI_THROTTLE_RATES):
        codes = [key.post(VALIDATE, _redeem_body(f"ZZZZ{n:08d}", n), format="json") for n in range(60)]
        links = [client.get(f"/c/forged{n}:x:y/") for n in range(60)]

    assert 404 in _statuses(codes) and _statuses(codes)[-1] == 429
    assert 404 in _statuses(links) and _statuses(links)[-1] == 429
