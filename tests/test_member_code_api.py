"""`POST /api/v1/members/code` (clientbook.code_apis): the brand's mini-program gets a member's own code from the
nearest store, the same code on every call, and the add through it in the WeCom emulator links that One ID customer
(no new customer); unknown members, other stores' customers, bad input and stores without a code are refused with
nothing made; on PostgreSQL, members asking at once make one code."""

from decimal import Decimal

import pytest

from clientbook.codes import code_create, code_member_way
from clientbook.codes_state import member_state
from clientbook.models import ContactWay, FollowRelation
from customers.ingestion import api_key_create
from customers.models import ApiKey, Channel, Customer, Identity
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, StoreFactory
from tests.test_codes import _scan, _staff, _wait, emulator  # noqa: F401
from tests.threads import results_and_codes, run_concurrently
from wecom.client import wecom_client

URL = "/api/v1/members/code"
PHONE = "+8613900000001"


def _key(*, stores=(), scopes=(ApiKey.Scope.MEMBERS,)) -> dict:
    _, secret = api_key_create(name="小程序", channel=Channel.MINI_PROGRAM, stores=stores, scopes=list(scopes))
    return {"HTTP_AUTHORIZATION": f"Api-Key {secret}"}


def _ask(client, headers, body):
    return client.post(URL, body, content_type="application/json", **headers)


@pytest.mark.django_db(transaction=True)
def test_a_member_gets_the_nearest_stores_code_twice_the_same_and_adding_through_it_links_her(client, emulator):  # noqa: F811
    _, lin, _ = _staff(emulator)
    lin.store.latitude, lin.store.longitude = Decimal("31.22"), Decimal("121.45")
    lin.store.save()
    far = StoreFactory(code="BJ01", name="北京三里屯店", latitude=Decimal("39.93"), longitude=Decimal("116.45"))
    AssociateFactory(store=far, wecom_userid="wangfang", name="王芳")
    emulator.control("POST", "associates", {"userid": "wangfang", "name": "王芳"})
    store_code = code_create(kind=ContactWay.Kind.STORE, store=lin.store, label="静安店", welcome_text="会员您好")
    code_create(kind=ContactWay.Kind.STORE, store=far, label="三里屯店")
    member = CustomerFactory(name="线上会员", primary_store=far)
    IdentityFactory(customer=member, kind=Identity.Kind.PHONE, value=PHONE)
    headers = _key()
    body = {"identity": {"kind": "phone", "value": "13900000001"}, "latitude": 31.2, "longitude": 121.5}

    first = _ask(client, headers, body)
    again = _ask(client, headers, {**body, "latitude": 39.9, "longitude": 116.4})

    assert first.status_code == 200, first.json()
    way = ContactWay.objects.get(kind=ContactWay.Kind.MEMBER)
    assert first.json() == {
        "state": member_state(customer_id=member.pk),
        "qr_code": way.qr_code,
        "config_id": way.config_id,
        "store": {"code": "SH01", "name": "上海静安店"},
        "associate": {"userid": "linyu", "name": "林雨"},
    }
    assert way.qr_code and way.config_id and way.parent == store_code
    # Asked again (from elsewhere): the same code, nothing new made here or in WeCom.
    assert (again.status_code, again.json()) == (200, first.json())
    assert ContactWay.objects.filter(kind=ContactWay.Kind.MEMBER).count() == 1
    config = wecom_client().post("externalcontact/get_contact_way", data={"config_id": way.config_id})["contact_way"]
    assert (config["state"], config["user"]) == (way.state, ["linyu"])

    customers_before = Customer.objects.count()
    external_userid = _scan(emulator, way, "线上会员")
    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT).exists())
    follow = FollowRelation.objects.get()
    assert (follow.customer_id, follow.associate, follow.contact_way) == (member.pk, lin, way)
    assert Customer.objects.count() == customers_before
    assert member.identities.filter(kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=external_userid).exists()


def test_who_is_not_a_member_of_the_keys_stores_or_not_known_is_refused_with_nothing_made(client, db):
    store, other = StoreFactory(code="SH01"), StoreFactory(code="BJ01")
    ContactWay.objects.create(store=other, kind=ContactWay.Kind.STORE, state="cBJ01", config_id="cfg-bj01")
    AssociateFactory(store=other, wecom_userid="wangfang")
    member = CustomerFactory(primary_store=other)
    IdentityFactory(customer=member, kind=Identity.Kind.PHONE, value=PHONE)
    identity = {"identity": {"kind": "phone", "value": PHONE}}

    unknown = _ask(client, _key(), {"identity": {"kind": "phone", "value": "+8613900000002"}})
    other_store = _ask(client, _key(stores=[store]), identity)
    no_scope = _ask(client, _key(scopes=[ApiKey.Scope.ORDERS]), identity)
    no_key = _ask(client, {}, identity)

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "customer_not_found")
    assert (other_store.status_code, other_store.json()["error"]["code"]) == (403, "store_not_allowed")
    assert (no_scope.status_code, no_scope.json()["error"]["code"]) == (403, "scope_missing")
    assert no_key.status_code == 401
    assert not ContactWay.objects.filter(kind=ContactWay.Kind.MEMBER).exists()


def test_bad_input_answers_400_with_a_stable_code(client, db):
    member = CustomerFactory()
    IdentityFactory(customer=member, kind=Identity.Kind.PHONE, value=PHONE)
    headers, identity = _key(), {"kind": "phone", "value": PHONE}

    answers = {
        name: _ask(client, headers, body)
        for name, body in {
            "no identity": {"latitude": 31.2, "longitude": 121.5},
            "unknown kind": {"identity": {"kind": "qq", "value": "1"}},
            "bad phone": {"identity": {"kind": "phone", "value": "12"}},
            "latitude only": {"identity": identity, "latitude": 31.2},
            "off the globe": {"identity": identity, "latitude": 91, "longitude": 121.5},
            "not a number": {"identity": identity, "latitude": "north", "longitude": 121.5},
        }.items()
    }

    codes = {name: (a.status_code, a.json()["error"]["code"]) for name, a in answers.items()}
    assert codes == {
        "no identity": (400, "invalid"),
        "unknown kind": (400, "invalid"),
        "bad phone": (400, "invalid_phone"),
        "latitude only": (400, "location_incomplete"),
        "off the globe": (400, "invalid"),
        "not a number": (400, "invalid"),
    }
    assert set(answers["off the globe"].json()["error"]["details"]) == {"latitude"}
    assert not ContactWay.objects.filter(kind=ContactWay.Kind.MEMBER).exists()


def test_a_store_without_a_code_or_without_associates_answers_409_and_makes_nothing(client, db):
    bare = StoreFactory(code="SH01")
    member = CustomerFactory(primary_store=bare)
    IdentityFactory(customer=member, kind=Identity.Kind.PHONE, value=PHONE)
    headers, body = _key(), {"identity": {"kind": "phone", "value": PHONE}}

    no_code = _ask(client, headers, body)
    ContactWay.objects.create(store=bare, kind=ContactWay.Kind.STORE, state="cSH01", config_id="cfg-sh01")
    no_one = _ask(client, headers, body)

    assert (no_code.status_code, no_code.json()["error"]["code"]) == (409, "no_store_code")
    assert (no_one.status_code, no_one.json()["error"]["code"]) == (409, "no_associates")
    assert not ContactWay.objects.filter(kind=ContactWay.Kind.MEMBER).exists()


def test_wecom_not_answering_is_a_502_and_leaves_no_code_behind(client, db, settings):
    store = StoreFactory(code="SH01")
    ContactWay.objects.create(store=store, kind=ContactWay.Kind.STORE, state="cSH01", config_id="cfg-sh01")
    AssociateFactory(store=store, wecom_userid="linyu")
    member = CustomerFactory(primary_store=store)
    IdentityFactory(customer=member, kind=Identity.Kind.PHONE, value=PHONE)
    settings.WECOM_API_BASE, settings.WECOM_RETRY_BACKOFF = "http://127.0.0.1:9/cgi-bin/", 0.01

    answer = _ask(client, _key(), {"identity": {"kind": "phone", "value": PHONE}})

    assert (answer.status_code, answer.json()["error"]["code"]) == (502, "wecom_unavailable")
    assert not ContactWay.objects.filter(kind=ContactWay.Kind.MEMBER).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_calls_for_one_member_at_once_make_one_code(emulator):  # noqa: F811
    store, _, _ = _staff(emulator)
    code_create(kind=ContactWay.Kind.STORE, store=store, label="静安店")
    member = CustomerFactory(primary_store=store)

    results, codes = results_and_codes(run_concurrently(lambda: code_member_way(customer=member), contenders=8))

    assert (len(results), codes) == (8, {})
    [way] = ContactWay.objects.filter(kind=ContactWay.Kind.MEMBER)
    assert {(r.pk, r.config_id) for r in results} == {(way.pk, way.config_id)}
