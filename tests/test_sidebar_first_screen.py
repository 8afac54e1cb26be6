"""The sidebar's first screen in one call: the chat contact resolved as /sidebar/contact/ resolves it, with the
profile, the first page of purchases and the usable coupons the separate APIs answer; another store's contact is the
same 404 as an unknown one. Runs on SQLite and PostgreSQL."""

import gzip
import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.test import Client
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from associates.auth import SESSION_KEY
from customers.models import AuditLog, Channel, Identity
from sidebar.first_screen_apis import FirstScreenOut
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    IdentityFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    StoreFactory,
)
from tests.live_emulator import live_emulator

pytestmark = pytest.mark.django_db
FIRST_SCREEN = "/api/v1/sidebar/first-screen/"


@pytest.fixture
def world():
    store, other_store = StoreFactory(code="SH01", name="上海静安店"), StoreFactory(code="BJ01", name="北京三里屯店")
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    customer = CustomerFactory(name="陈静", primary_store=store, primary_associate=associate, phone="+8613812345678")
    IdentityFactory(customer=customer, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value="wmChenJing0001")
    other = CustomerFactory(name="北京客户", primary_store=other_store)
    IdentityFactory(customer=other, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value="wmBeijing0001")
    serum = ProductFactory(name="修护精华 30ml", category="serum")
    for n in range(12):  # more than a page: the first screen has the newest ten
        order = OrderFactory(
            customer=customer,
            channel=Channel.STORE_POS,
            store=store,
            placed_at=timezone.now() - timedelta(days=n + 1),
            total_amount=Decimal("420.00"),
        )
        OrderLineFactory(order=order, line_no=1, product=serum, quantity=1, unit_price=Decimal("420.00"))
    pack = CouponPackFactory(name="新客礼包")
    CouponPackItemFactory(pack=pack, template=CouponTemplateFactory(name="满300减50"))
    client = APIClient()
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    return {"client": client, "associate": associate, "customer": customer, "other": other, "pack": pack}


def _conforms(serializer: type[serializers.Serializer], body: dict) -> None:
    checked = serializer(data=body)
    assert checked.is_valid(), checked.errors
    assert set(body) == set(serializer().fields)


def test_one_call_answers_who_the_contact_is_and_what_she_bought(world):
    client, customer = world["client"], world["customer"]
    sent = client.post(
        f"/api/v1/sidebar/customers/{customer.pk}/coupon-packs/{world['pack'].pk}/send/", {"request_no": "t1"}
    )
    assert sent.status_code == 201

    response = client.get(FIRST_SCREEN, {"external_userid": "wmChenJing0001"})

    assert response.status_code == 200
    body = response.json()
    _conforms(FirstScreenOut, body)
    assert body["contact"] == {
        "id": customer.pk,
        "external_userid": "wmChenJing0001",
        "name": "陈静",
        "phone": "138****5678",
        "store": "上海静安店",
        "avatar": customer.avatar_url,
    }
    # The same answers as the separate calls the page made before (and still makes for the rest).
    assert body["profile"] == client.get(f"/api/v1/sidebar/customers/{customer.pk}/").json()
    assert body["orders"] == client.get(f"/api/v1/sidebar/customers/{customer.pk}/orders/").json()
    assert len(body["orders"]["orders"]) == 10 and body["orders"]["has_more"] is True
    assert [(c["rule_text"], c["status"]) for c in body["coupons"]] == [("满300减50", "issued")]
    # Reading the profile is audited, as customers/<id>/ is.
    assert AuditLog.objects.filter(customer_id=customer.pk, associate=world["associate"]).count() == 2


@pytest.fixture
def wecom(settings):
    config = {"corp_id": "wwfirstscreen00001", "agent_id": "1000002", "secret": "first-screen-secret"}
    keys = {"token": "FirstScreen", "encoding_aes_key": "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"}
    with live_emulator(settings, "http://testserver", **config, **keys, callbacks=False) as running:
        running.control("POST", "associates", {"userid": "linyu", "name": "林雨"})
        yield running


@pytest.mark.parametrize("external_userid", ["wmBeijing0001", "wmNobody0001", ""])
def test_another_stores_or_an_unknown_contact_is_the_same_404_as_for_the_contact_lookup(world, wecom, external_userid):
    # WeCom (the emulator) says none of them is this associate's contact.
    response = world["client"].get(FIRST_SCREEN, {"external_userid": external_userid})
    contact = world["client"].get("/sidebar/contact/", {"external_userid": external_userid})

    assert response.status_code == contact.status_code == 404
    assert response.json()["error"]["code"] == contact.json()["error"]["code"] == "not_found"
    assert response.json() == world["client"].get(FIRST_SCREEN, {"external_userid": "wmNobody0001"}).json()
    assert AuditLog.objects.count() == 0


def test_without_a_session_the_first_screen_refuses(world):
    response = APIClient().get(FIRST_SCREEN, {"external_userid": "wmChenJing0001"})

    assert response.status_code == 401


def test_the_sidebar_page_carries_its_own_js_sdk_signatures_and_is_sent_compressed(world, wecom):
    client = Client()
    session = client.session
    session[SESSION_KEY] = world["associate"].pk
    session.save()

    response = client.get("/sidebar/", HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    page = gzip.decompress(response.content).decode()
    signed = json.loads(re.search(r'<script id="omni-jssdk" type="application/json">(.*?)</script>', page).group(1))
    # What /wecom/jssdk/config/ answers for the same URL, but without the round trip.
    asked = client.get("/wecom/jssdk/config/", {"url": "http://testserver/sidebar/"}).json()
    assert signed["url"] == "http://testserver/sidebar/"
    assert signed["agentConfig"]["jsApiList"] == asked["agentConfig"]["jsApiList"]
    # WeCom (the emulator's JS-SDK check) accepts both signatures for the page's URL.
    for api, part in (("config", signed["config"]), ("agentConfig", signed["agentConfig"])):
        verdict = requests.post(
            f"{wecom.url}/jssdk/verify",
            data=json.dumps(
                {
                    "api": api,
                    "appId": part.get("appId", ""),
                    "corpid": part.get("corpid", ""),
                    "agentid": part.get("agentid", ""),
                    "timestamp": part["timestamp"],
                    "nonceStr": part["nonceStr"],
                    "signature": part["signature"],
                    "url": signed["url"],
                    "jsApiList": part["jsApiList"],
                }
            ),
            timeout=10,
        ).json()
        assert verdict["ok"], verdict
    # The page's scripts: async SDK and bridge, deferred sidebar; hashed names are production's (collectstatic).
    assert re.search(r'<script src="[^"]*" id="wecom-jssdk" async>', page)
    assert re.search(r'<script src="/static/omni/sidebar[^"]*\.js" defer>', page)
