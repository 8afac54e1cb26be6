"""Omni against the local WeCom emulator, over HTTP with the real protocol: tokens, retries, callbacks,
welcome messages, OAuth, JS-SDK and sync. Omni runs as a live server so the emulator can call it back."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.management import call_command

from clientbook.models import FollowRelation
from customers.models import Customer, Identity
from tests.factories import AssociateFactory, CustomerFactory, IdentityFactory, StoreFactory
from tests.live_emulator import live_emulator
from tests.threads import failures, run_concurrently
from wecom.client import WeComError, wecom_client
from wecom.jssdk import jssdk_signature
from wecom.models import CallbackEvent, SyncRun

CORP_ID, AGENT_ID, SECRET = "wwomnitest00000001", "1000002", "omni-test-secret"
TOKEN, AES_KEY = "OmniTestToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"


@pytest.fixture
def emulator(live_server, settings):
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, live_server.url, **config) as running:
        yield running


@pytest.fixture
def shop(db):
    store = StoreFactory(code="SH01", name="上海静安店")
    return AssociateFactory(store=store, wecom_userid="linyu", name="林雨")


def _gettoken_calls(emulator) -> int:
    return emulator.control("GET", "calls", api="gettoken")["count"]


def _wait(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


# Client: tokens, retries, errors ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_token_is_fetched_once_and_then_cached(emulator, shop):
    client = wecom_client()

    client.external_contact.get_follow_user_list()
    client.external_contact.get_follow_user_list()

    assert _gettoken_calls(emulator) == 1


@pytest.mark.postgres  # many processes sharing one token is the Redis cache's job
@pytest.mark.django_db(transaction=True)
def test_many_workers_make_one_gettoken_call(emulator, shop):
    outcomes = run_concurrently(lambda: wecom_client().external_contact.get_follow_user_list(), contenders=8)

    assert failures(outcomes) == []
    assert _gettoken_calls(emulator) == 1


@pytest.mark.django_db(transaction=True)
def test_an_expired_token_is_refetched_once_and_the_call_succeeds(emulator, shop):
    client = wecom_client()
    client.external_contact.get_follow_user_list()
    emulator.control("POST", "faults", {"expire_tokens_now": True})

    result = client.external_contact.get_follow_user_list()

    assert result["errcode"] == 0
    assert _gettoken_calls(emulator) == 2
    failed = emulator.control("GET", "calls", api="externalcontact/get_follow_user_list", errcode=42001)
    assert failed["count"] == 1


@pytest.mark.django_db(transaction=True)
def test_rate_limiting_is_retried_a_bounded_number_of_times_then_surfaces(emulator, shop, settings):
    settings.WECOM_MAX_RETRIES = 3
    client = wecom_client()
    client.external_contact.get_follow_user_list()
    emulator.control("POST", "faults", {"rate_limit_rate": 1.0, "only_apis": ["externalcontact/get_follow_user_list"]})

    with pytest.raises(WeComError) as error:
        client.external_contact.get_follow_user_list()

    assert error.value.errcode == 45009
    assert error.value.transient
    limited = emulator.control("GET", "calls", api="externalcontact/get_follow_user_list", errcode=45009)
    assert limited["count"] == 4  # the call and its 3 retries, no more


@pytest.mark.django_db(transaction=True)
def test_a_busy_wecom_is_retried_until_it_answers(emulator, shop, settings):
    settings.WECOM_MAX_RETRIES = 50
    emulator.control("POST", "faults", {"busy_rate": 0.5, "only_apis": ["externalcontact/get_follow_user_list"]})

    for _ in range(5):
        assert wecom_client().external_contact.get_follow_user_list()["errcode"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_permanent_error_is_typed_and_not_retried(emulator, shop):
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})

    with pytest.raises(WeComError) as error:
        wecom_client().external_contact.list("linyu")

    assert error.value.errcode == 84061
    assert not error.value.transient
    assert emulator.control("GET", "calls", api="externalcontact/list")["count"] == 1


# Callbacks: a customer adds an associate -------------------------------------------------------


def _customer_adds(emulator, *, name="陈静", unionid="", duplicate=False):
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    if duplicate:
        emulator.control("POST", "faults", {"callbacks": "duplicate"})
    person = emulator.control("POST", "customers", {"name": name, "unionid": unionid, "gender": 2})
    emulator.control("POST", "contacts/add", {"external_userid": person["external_userid"], "userid": "linyu"})
    emulator.control("GET", "deliveries", wait=15)
    return person["external_userid"]


@pytest.mark.django_db(transaction=True)
def test_a_customer_added_in_wecom_becomes_a_linked_customer_and_gets_the_welcome(emulator, shop):
    external_userid = _customer_adds(emulator, name="陈静")

    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT).exists())
    follow = FollowRelation.objects.select_related("customer").get()
    assert (follow.associate_id, follow.external_userid) == (shop.pk, external_userid)
    customer = follow.customer
    assert (customer.name, customer.gender, customer.primary_store_id, customer.primary_associate_id) == (
        "陈静",
        Customer.Gender.FEMALE,
        shop.store_id,
        shop.pk,
    )
    assert list(customer.identities.values_list("kind", "value")) == [
        (Identity.Kind.WECOM_EXTERNAL_USERID, external_userid)
    ]
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=external_userid)["messages"]
    welcomes = [m for m in transcript if m["kind"] == "welcome"]
    assert len(welcomes) == 1
    assert "上海静安店" in str(welcomes[0]["body"]) and "林雨" in str(welcomes[0]["body"])


@pytest.mark.django_db(transaction=True)
def test_the_stores_welcome_pack_is_issued_and_its_link_goes_with_the_welcome(emulator, shop, live_server):
    from coupons.models import Coupon, IssueRequest
    from tests.factories import CouponPackFactory, CouponPackItemFactory

    pack = CouponPackFactory(name="新客礼包", welcome=True)
    pack.stores.set([shop.store])
    CouponPackItemFactory(pack=pack)

    external_userid = _customer_adds(emulator, name="陈静")

    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT).exists())
    follow = FollowRelation.objects.get()
    request = IssueRequest.objects.get()
    assert (request.request_no, request.source, request.customer_id) == (
        f"welcome:{follow.pk}",
        "welcome",
        follow.customer_id,
    )
    coupon = Coupon.objects.get()
    assert (coupon.customer_id, coupon.associate_id) == (follow.customer_id, shop.pk)
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=external_userid)["messages"]
    welcome = [m for m in transcript if m["kind"] == "welcome"]
    assert [m["msgtype"] for m in welcome] == ["text", "link"]
    assert "新客礼包" in welcome[1]["body"]["title"]
    assert welcome[1]["body"]["url"].startswith(f"{live_server.url}/c/")


@pytest.mark.django_db(transaction=True)
def test_a_contact_with_a_known_unionid_links_to_the_existing_one_id_customer(emulator, shop):
    existing = CustomerFactory(name="陈静（会员）")
    IdentityFactory(customer=existing, kind=Identity.Kind.WECHAT_UNIONID, value="o6_known_unionid")

    external_userid = _customer_adds(emulator, name="陈静", unionid="o6_known_unionid")

    assert _wait(lambda: FollowRelation.objects.exists())
    assert FollowRelation.objects.get().customer_id == existing.pk
    assert Customer.objects.count() == 1
    assert existing.identities.filter(kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=external_userid).exists()


@pytest.mark.django_db(transaction=True)
def test_a_duplicated_callback_acts_once(emulator, shop):
    external_userid = _customer_adds(emulator, duplicate=True)

    deliveries = emulator.control("GET", "deliveries", event="change_external_contact")["deliveries"]
    assert len([d for d in deliveries if d["status"] == "delivered"]) == 2
    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT).exists())
    assert CallbackEvent.objects.filter(change_type="add_external_contact").count() == 1
    assert FollowRelation.objects.count() == 1
    assert Customer.objects.count() == 1
    transcript = emulator.control("GET", "transcript", userid="linyu", external_userid=external_userid)["messages"]
    assert len([m for m in transcript if m["kind"] == "welcome"]) == 1


@pytest.mark.django_db(transaction=True)
def test_a_customer_deleting_the_associate_ends_the_friendship(emulator, shop):
    external_userid = _customer_adds(emulator)
    assert _wait(lambda: FollowRelation.objects.exists())

    emulator.control(
        "POST", "contacts/delete", {"userid": "linyu", "external_userid": external_userid, "by": "customer"}
    )
    emulator.control("GET", "deliveries", wait=15)

    assert _wait(lambda: FollowRelation.objects.filter(ended_reason=FollowRelation.Ended.CUSTOMER).exists())


# Pages: OAuth and JS-SDK -----------------------------------------------------------------------


def _sign_in(live_server, emulator, userid):
    browser = requests.Session()
    start = browser.get(f"{live_server.url}/sidebar/", allow_redirects=False)
    assert start.status_code == 302 and "/wecom/oauth/start/" in start.headers["Location"]
    to_wecom = browser.get(f"{live_server.url}{start.headers['Location']}", allow_redirects=False)
    authorize = to_wecom.headers["Location"]
    assert authorize.startswith(f"{emulator.url}/connect/oauth2/authorize?appid={CORP_ID}")
    back = browser.get(authorize.split("#")[0] + f"&as_userid={userid}", allow_redirects=False)
    return browser, back.headers["Location"]


@pytest.mark.django_db(transaction=True)
def test_oauth_signs_an_associate_in_and_a_code_works_once(emulator, shop, live_server):
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    browser, callback = _sign_in(live_server, emulator, "linyu")

    landed = browser.get(callback)
    replay = requests.Session().get(callback)

    assert landed.status_code == 200
    assert landed.url == f"{live_server.url}/sidebar/"
    assert "林雨" in landed.text
    assert replay.status_code == 400
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert emulator.control("GET", "calls", api="auth/getuserinfo")["count"] == 1, code


@pytest.mark.django_db(transaction=True)
def test_a_member_who_is_not_an_associate_gets_a_clear_page(emulator, shop, live_server):
    emulator.control("POST", "associates", {"userid": "stranger", "name": "路人", "store": "总部"})
    browser, callback = _sign_in(live_server, emulator, "stranger")

    page = browser.get(callback)

    assert page.status_code == 403
    assert "还不是 Omni 导购" in page.text


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_associate_is_locked_out_at_once(emulator, shop, live_server):
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    browser, callback = _sign_in(live_server, emulator, "linyu")
    assert browser.get(callback).status_code == 200

    shop.is_active = False
    shop.save()
    again = browser.get(f"{live_server.url}/sidebar/", allow_redirects=False)

    assert again.status_code == 302
    assert "/wecom/oauth/start/" in again.headers["Location"]


@pytest.mark.django_db(transaction=True)
def test_jssdk_config_is_signed_with_the_tickets_wecom_issued(emulator, shop, live_server):
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    browser, callback = _sign_in(live_server, emulator, "linyu")
    browser.get(callback)
    page_url = f"{live_server.url}/sidebar/?from=chat"

    config = browser.get(f"{live_server.url}/wecom/jssdk/config/", params={"url": page_url + "#x"}).json()
    foreign = browser.get(f"{live_server.url}/wecom/jssdk/config/", params={"url": "https://evil.example/"})

    client = wecom_client()
    for part, ticket in (("config", client.jsapi_ticket()), ("agentConfig", client.agent_ticket())):
        signed = config[part]
        assert signed["signature"] == jssdk_signature(
            ticket=ticket, noncestr=signed["nonceStr"], timestamp=signed["timestamp"], url=page_url
        )
    assert foreign.status_code == 400
    assert emulator.control("GET", "calls", api="ticket/get")["count"] == 1


# Sync ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_full_contact_sync_links_every_contact_and_a_rerun_changes_nothing(emulator, shop):
    emulator.control("POST", "faults", {"callbacks": "off"})
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    for n in range(130):
        person = emulator.control("POST", "customers", {"name": f"客户{n}"})
        emulator.control("POST", "contacts/add", {"external_userid": person["external_userid"], "userid": "linyu"})

    call_command("wecom_sync", "contacts", "--inline")
    call_command("wecom_sync", "contacts", "--inline")

    assert FollowRelation.objects.filter(associate=shop).count() == 130
    assert Customer.objects.count() == 130
    runs = list(SyncRun.objects.order_by("pk").values_list("status", "items", "pages"))
    assert runs == [("done", 130, 2), ("done", 130, 2)]


@pytest.mark.django_db(transaction=True)
def test_a_customer_who_comes_back_is_greeted_once_more_unless_wecom_says_the_chat_has_started(emulator, shop):
    external_userid = _customer_adds(emulator)
    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.SENT).exists())
    emulator.control(
        "POST", "contacts/delete", {"userid": "linyu", "external_userid": external_userid, "by": "customer"}
    )
    emulator.control("GET", "deliveries", wait=15)

    emulator.control("POST", "contacts/add", {"external_userid": external_userid, "userid": "linyu"})
    emulator.control("GET", "deliveries", wait=15)

    # The re-add brings a fresh WelcomeCode and Omni uses it; WeCom refuses it with 41051 because this
    # chat already has messages, and 41051 is final: recorded, never retried.
    assert _wait(lambda: FollowRelation.objects.filter(welcome=FollowRelation.Welcome.ALREADY_SENT).exists())
    follow = FollowRelation.objects.get()
    assert follow.ended_at is None
    sends = emulator.control("GET", "calls", api="externalcontact/send_welcome_msg")["calls"]
    assert [call["errcode"] for call in sends] == [0, 41051]
