"""The customer confirms an associate's claim from the chat card, in their own WeChat (issue 19, finding 1).

Real HTTP end to end: Omni's live server, the emulator playing WeCom and the customer's WeChat (the Official
Account's web authorization), a requests session per phone. Only the chat contact the claim is about can confirm;
what the page says does not depend on who owns the number.
"""

import re
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests
from django.utils import timezone

from associates.auth import SESSION_KEY
from clientbook.models import FollowRelation
from customers.models import Customer, CustomerMerge, Identity, IdentityClaim, IdentityConflict
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, StoreFactory
from tests.live_emulator import live_emulator

CORP_ID, AGENT_ID, SECRET = "wwclaimtest0000001", "1000002", "claim-secret"
AES_KEY = "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"
OA_APPID, OA_SECRET = "wx5a1e5c0de0000002", "5ec7e7000000000000000000000000bb"
STUB, PHONED, STRANGER = (
    "wmClaimStub00000000000000000001",
    "wmClaimPhoned000000000000000002",
    "wmClaimStranger0000000000000003",
)


@pytest.fixture
def emulator(live_server, settings):
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": "ClaimToken"}
    with live_emulator(
        settings,
        live_server.url,
        **config,
        encoding_aes_key=AES_KEY,
        callbacks=False,
        oa_appid=OA_APPID,
        oa_secret=OA_SECRET,
    ) as running:
        yield running


@pytest.fixture
def world(emulator, client):
    """Zhangmin (SH01) chats with a WeChat-only contact and with one who gave her own phone; BJ01's member has a
    phone and a member number. Each chat contact is a WeChat user in the emulator, with a unionid One ID knows."""
    sh01, bj01 = StoreFactory(code="SH01"), StoreFactory(code="BJ01")
    zhangmin = AssociateFactory(store=sh01, wecom_userid="zhangmin")
    contacts = {}
    for name, external_userid, phone in [("stub", STUB, ""), ("phoned", PHONED, "+8613700001110")]:
        customer = CustomerFactory(name=f"联系人{name}", primary_store=sh01, phone=phone)
        IdentityFactory(customer=customer, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=external_userid)
        IdentityFactory(customer=customer, kind=Identity.Kind.WECHAT_UNIONID, value=f"ou-{name}")
        if phone:
            IdentityFactory(customer=customer, kind=Identity.Kind.PHONE, value=phone)
        FollowRelation.objects.create(
            associate=zhangmin, customer=customer, external_userid=external_userid, followed_at=timezone.now()
        )
        emulator.control(
            "POST", "customers", {"name": name, "external_userid": external_userid, "unionid": f"ou-{name}"}
        )
        contacts[name] = customer
    stranger = CustomerFactory(name="路人", primary_store=sh01)
    IdentityFactory(customer=stranger, kind=Identity.Kind.WECHAT_UNIONID, value="ou-stranger")
    emulator.control("POST", "customers", {"name": "路人", "external_userid": STRANGER, "unionid": "ou-stranger"})
    member = CustomerFactory(name="陈静会员", primary_store=bj01, phone="+8613812345678")
    IdentityFactory(customer=member, kind=Identity.Kind.PHONE, value="+8613812345678")
    IdentityFactory(customer=member, kind=Identity.Kind.POS_MEMBER_NO, value="M0042")
    session = client.session
    session[SESSION_KEY] = zhangmin.pk
    session.save()
    return {**contacts, "member": member, "stranger": stranger}


def claim_card(client, customer, **body) -> dict:
    """The associate submits the sidebar's link form; the answer carries the card she sends into the chat."""
    response = client.post(f"/api/v1/sidebar/customers/{customer.pk}/link/", body, content_type="application/json")
    assert response.status_code == 202
    assert response.json()["message"] == "已发送给客户确认"
    return response.json()["card"]


def open_in_wechat(emulator, external_userid: str, url: str, phone: requests.Session | None = None):
    """The customer taps the card in their WeChat; the phone follows every redirect."""
    phone = phone or requests.Session()
    page = phone.get(f"{emulator.url}/wechat/open", params={"external_userid": external_userid, "url": url}, timeout=20)
    return phone, page


def answer(phone: requests.Session, page: requests.Response, value: str) -> requests.Response:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return phone.post(page.url, data={"csrfmiddlewaretoken": token, "answer": value}, timeout=20)


def state_of(page: requests.Response) -> str:
    return re.search(r'data-state="(\w+)"', page.text).group(1)


@pytest.mark.django_db(transaction=True)
def test_the_contact_confirms_in_their_wechat_and_is_merged_into_the_member(emulator, world, client):
    card = claim_card(client, world["stub"], member_no="M0042")

    phone, page = open_in_wechat(emulator, STUB, card["link"])

    assert page.status_code == 200 and state_of(page) == "ask"
    assert urlsplit(page.url).query == ""  # code and state are gone from the address
    assert "M0****42" in page.text and "陈静会员" not in page.text
    assert Customer.objects.get(pk=world["stub"].pk).merged_into_id is None

    done = answer(phone, page, "yes")

    assert done.status_code == 200 and state_of(done) == "confirmed"
    assert Customer.objects.get(pk=world["stub"].pk).merged_into_id == world["member"].pk
    claim = IdentityClaim.objects.get()
    assert (claim.status, claim.confirmed_via) == ("confirmed", "customer")
    assert IdentityConflict.objects.get().status == IdentityConflict.Status.MERGED
    assert client.get(f"/api/v1/sidebar/customers/{world['member'].pk}/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_free_number_confirmed_by_the_contact_becomes_theirs(emulator, world, client):
    card = claim_card(client, world["stub"], phone="13900000000")

    phone, page = open_in_wechat(emulator, STUB, card["link"])
    assert "139****0000" in page.text
    answer(phone, page, "yes")

    assert Identity.objects.get(value="+8613900000000").customer_id == world["stub"].pk
    assert CustomerMerge.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_forwarded_card_opened_by_someone_else_confirms_nothing(emulator, world, client):
    card = claim_card(client, world["stub"], member_no="M0042")

    phone, page = open_in_wechat(emulator, STRANGER, card["link"])

    assert page.status_code == 403 and state_of(page) == "not_you"
    assert "M0****42" not in page.text
    forged = phone.post(card["link"], data={"answer": "yes"}, timeout=20)
    assert forged.status_code == 403
    assert IdentityClaim.objects.get().status == IdentityClaim.Status.PENDING
    assert CustomerMerge.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_callback_url_replayed_in_another_browser_proves_nothing(emulator, world, client):
    card = claim_card(client, world["stub"], member_no="M0042")
    phone = requests.Session()
    location = f"{emulator.url}/wechat/open?{urlencode({'external_userid': STUB, 'url': card['link']})}"
    while "code=" not in location:
        response = phone.get(location, allow_redirects=False, timeout=20)
        location = urljoin(location, response.headers["Location"]).partition("#")[0]

    replayed = requests.get(location, timeout=20)

    assert replayed.status_code == 403 and state_of(replayed) == "not_you"
    assert IdentityClaim.objects.get().status == IdentityClaim.Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_contact_holding_another_phone_confirms_but_only_a_manager_can_merge(emulator, world, client):
    card = claim_card(client, world["phoned"], phone="13812345678")

    phone, page = open_in_wechat(emulator, PHONED, card["link"])
    done = answer(phone, page, "yes")

    assert state_of(done) == "confirmed"  # the same words as when the link completes: nothing is revealed
    assert Customer.objects.get(pk=world["phoned"].pk).merged_into_id is None
    claim = IdentityClaim.objects.get()
    assert claim.status == IdentityClaim.Status.PENDING and claim.customer_confirmed_at is not None
    assert IdentityConflict.objects.get().status == IdentityConflict.Status.OPEN


@pytest.mark.django_db(transaction=True)
def test_the_customer_saying_not_me_closes_the_claim(emulator, world, client):
    card = claim_card(client, world["stub"], member_no="M0042")

    phone, page = open_in_wechat(emulator, STUB, card["link"])
    declined = answer(phone, page, "no")

    assert state_of(declined) == "declined"
    assert IdentityClaim.objects.get().status == IdentityClaim.Status.DISMISSED
    assert IdentityConflict.objects.get().status == IdentityConflict.Status.DISMISSED
    _, again = open_in_wechat(emulator, STUB, card["link"])
    assert state_of(again) == "closed"
    assert CustomerMerge.objects.count() == 0
