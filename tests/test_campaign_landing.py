"""A campaign card's landing page finds the recipient through the Official Account's web authorization and sends
them to their own coupon page; everyone and everything else gets the page that is the same for all. Real HTTP
end to end: Omni's live server, the emulator playing WeCom and the customers' WeChat, a requests session per
phone."""

import logging
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.tasks import campaigns_tick_task
from clientbook.models import FollowRelation
from coupons.models import Coupon
from customers.models import Customer, Identity
from customers.services import customer_merge
from tests.factories import (
    AssociateFactory,
    CouponPackFactory,
    CouponPackItemFactory,
    CouponTemplateFactory,
    CustomerFactory,
    IdentityFactory,
    StoreFactory,
)
from tests.live_emulator import live_emulator
from tests.test_campaign_flow import approved, campaign_for, confirm_all
from wecom import wechat_oauth as oauth
from wecom.emulator.wechat import oa_openid

CORP_ID, AGENT_ID, SECRET = "wwlandingtest00001", "1000002", "landing-secret"
AES_KEY = "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"
OA_APPID, OA_SECRET = "wx5a1e5c0de0000001", "5ec7e7000000000000000000000000aa"
CHEN, WANG, ZHAO = (
    "wmLandingChen0000000000000000001",
    "wmLandingWang0000000000000000002",
    "wmLandingZhao0000000000000000003",
)
STRANGER = "wmLandingStranger000000000000004"


@pytest.fixture
def emulator(live_server, settings):
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": "LandingToken"}
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


@dataclass
class Sent:
    campaign: Campaign
    people: dict[str, Customer]  # chen and wang were sent it; zhao was skipped (no marketing consent)

    def card_url(self, emulator, external_userid: str = CHEN) -> str:
        """The link of the card the customer got in their chat."""
        messages = emulator.control("GET", "transcript", userid="linyu", external_userid=external_userid)["messages"]
        return next(m["body"]["url"] for m in messages if m["msgtype"] == "link")

    def codes(self, name: str) -> set[str]:
        return set(Coupon.objects.filter(customer=self.people[name]).values_list("code", flat=True))


def send_campaign_with_a_pack(emulator, *, pack=True) -> Sent:
    """Chen, Wang and Zhao are friends of associate linyu, in Omni and in WeCom, each with a unionid One ID knows;
    Zhao gave no marketing consent. A campaign with a coupon pack goes out and linyu confirms it. A stranger Omni
    never heard of is in WeChat too."""
    store = StoreFactory(code="SH01", name="上海静安店")
    associate = AssociateFactory(store=store, wecom_userid="linyu", name="林雨")
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": store.name})
    people = {}
    for name, label, external_userid, consent in [
        ("chen", "陈静", CHEN, True),
        ("wang", "王磊", WANG, True),
        ("zhao", "赵敏", ZHAO, False),
    ]:
        customer = CustomerFactory(
            name=label, primary_store=store, primary_associate=associate, marketing_consent=consent
        )
        IdentityFactory(customer=customer, kind=Identity.Kind.WECOM_EXTERNAL_USERID, value=external_userid)
        IdentityFactory(customer=customer, kind=Identity.Kind.WECHAT_UNIONID, value=f"ou-{name}")
        FollowRelation.objects.create(
            associate=associate, customer=customer, external_userid=external_userid, followed_at=timezone.now()
        )
        emulator.control(
            "POST", "customers", {"name": label, "external_userid": external_userid, "unionid": f"ou-{name}"}
        )
        emulator.control("POST", "contacts/add", {"external_userid": external_userid, "userid": "linyu"})
        people[name] = customer
    emulator.control("POST", "customers", {"name": "路人", "external_userid": STRANGER, "unionid": "ou-stranger"})
    coupon_pack = None
    if pack:
        coupon_pack = CouponPackFactory(name="会员日券包")
        CouponPackItemFactory(pack=coupon_pack, template=CouponTemplateFactory(name="满300减50"))
    campaign = approved(campaign_for(store, coupon_pack=coupon_pack))
    campaigns_tick_task.delay()
    confirm_all(emulator)
    return Sent(campaign=Campaign.objects.get(pk=campaign.pk), people=people)


def open_in_wechat(emulator, external_userid: str, url: str) -> requests.Response:
    """The customer taps a link in their WeChat; the phone follows every redirect."""
    return requests.Session().get(
        f"{emulator.url}/wechat/open", params={"external_userid": external_userid, "url": url}, timeout=20
    )


def callback_url(emulator, external_userid: str, url: str) -> tuple[requests.Session, str]:
    """Follow the phone only as far as WeChat sending it back to Omni with code and state: (the phone, that URL)."""
    phone = requests.Session()
    location = f"{emulator.url}/wechat/open?{urlencode({'external_userid': external_userid, 'url': url})}"
    for _ in range(4):
        response = phone.get(location, allow_redirects=False, timeout=20)
        assert response.status_code == 302, (response.status_code, location)
        location = urljoin(location, response.headers["Location"]).partition("#")[0]
        if "code=" in location:
            return phone, location
    raise AssertionError(f"WeChat never came back to Omni: {location}")


def is_coupon_page(response: requests.Response) -> bool:
    return response.status_code == 200 and urlsplit(response.url).path.startswith("/c/")


def is_generic_page(response: requests.Response, campaign: Campaign) -> bool:
    return (
        response.status_code == 200
        and urlsplit(response.url).path == f"/m/{campaign.landing_token}/"
        and campaign.name in response.text
        and "data-code" not in response.text
    )


# Recipients ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_recipient_opening_the_same_card_lands_on_their_own_coupons(emulator):
    sent = send_campaign_with_a_pack(emulator)
    card = sent.card_url(emulator)
    assert card == sent.card_url(emulator, WANG)

    chen = open_in_wechat(emulator, CHEN, card)
    wang = open_in_wechat(emulator, WANG, card)

    assert is_coupon_page(chen) and is_coupon_page(wang)
    assert len(sent.codes("chen")) == 1 and len(sent.codes("wang")) == 1
    assert all(f'data-code="{code}"' in chen.text for code in sent.codes("chen"))
    assert not any(code in chen.text for code in sent.codes("wang"))
    assert all(f'data-code="{code}"' in wang.text for code in sent.codes("wang"))
    assert not any(code in wang.text for code in sent.codes("chen"))
    assert "陈静" not in wang.text


@pytest.mark.django_db(transaction=True)
def test_the_authorize_redirect_is_snsapi_base_back_to_the_landing_page_with_a_state_bound_to_the_browser(
    emulator, live_server
):
    sent = send_campaign_with_a_pack(emulator)
    phone = requests.Session()

    first = phone.get(sent.card_url(emulator), allow_redirects=False, timeout=20)
    target = urlsplit(first.headers["Location"])
    query = parse_qs(target.query)

    assert first.status_code == 302 and first.headers["Cache-Control"].startswith("max-age=0")
    assert f"{target.scheme}://{target.netloc}{target.path}" == emulator.authorize_url
    assert target.fragment == "wechat_redirect"
    assert (query["appid"], query["response_type"], query["scope"]) == ([OA_APPID], ["code"], ["snsapi_base"])
    assert query["redirect_uri"] == [f"{live_server.url}/m/{sent.campaign.landing_token}/"]
    assert query["state"][0].isalnum() and len(query["state"][0]) <= 128
    cookie = next(c for c in phone.cookies if c.name == "omni_wx_nonce")
    assert cookie.path == f"/m/{sent.campaign.landing_token}/" and cookie.has_nonstandard_attr("HttpOnly")


@pytest.mark.django_db(transaction=True)
def test_the_openid_is_recorded_so_a_recipient_is_found_when_wechat_sends_no_unionid(emulator):
    sent = send_campaign_with_a_pack(emulator)
    card = sent.card_url(emulator)
    open_in_wechat(emulator, CHEN, card)
    openid = oa_openid(appid=OA_APPID, external_userid=CHEN)
    with emulator.emulator.state.change() as data:
        data["customers"][CHEN]["unionid"] = ""

    again = open_in_wechat(emulator, CHEN, card)

    recorded = Identity.objects.get(kind=Identity.Kind.WECHAT_OA_OPENID)
    assert (recorded.customer_id, recorded.value, recorded.source) == (sent.people["chen"].pk, openid, "wechat_oa")
    assert is_coupon_page(again) and all(code in again.text for code in sent.codes("chen"))


@pytest.mark.django_db(transaction=True)
def test_a_recipient_merged_into_another_record_since_reaches_the_coupons_of_both(emulator):
    sent = send_campaign_with_a_pack(emulator)
    survivor = CustomerFactory(name="陈静")
    own = Coupon.objects.get(customer=sent.people["chen"])
    customer_merge(source=sent.people["chen"], target=survivor, reason="同一个人")

    page = open_in_wechat(emulator, CHEN, sent.card_url(emulator))

    assert Identity.objects.get(kind=Identity.Kind.WECHAT_UNIONID, value="ou-chen").customer_id == survivor.pk
    assert is_coupon_page(page) and f'data-code="{own.code}"' in page.text


# Everyone else --------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_skipped_customer_and_a_stranger_get_the_generic_page_and_nobody_is_created(emulator):
    sent = send_campaign_with_a_pack(emulator)
    card = sent.card_url(emulator)
    customers, identities = Customer.objects.count(), Identity.objects.count()

    zhao = open_in_wechat(emulator, ZHAO, card)
    stranger = open_in_wechat(emulator, STRANGER, card)

    assert CampaignRecipient.objects.get(customer=sent.people["zhao"]).status == "skipped"
    assert is_generic_page(zhao, sent.campaign) and is_generic_page(stranger, sent.campaign)
    assert "满300减50" in stranger.text and "赵敏" not in zhao.text
    assert Customer.objects.count() == customers
    # Zhao is known by unionid, so the openid is recorded; the stranger leaves nothing behind.
    assert list(Identity.objects.filter(kind=Identity.Kind.WECHAT_OA_OPENID).values_list("customer_id", flat=True)) == [
        sent.people["zhao"].pk
    ]
    assert Identity.objects.count() == identities + 1


@pytest.mark.django_db(transaction=True)
def test_a_callback_url_replayed_in_another_browser_or_again_shows_nothing_personal(emulator):
    sent = send_campaign_with_a_pack(emulator)
    chen_phone, callback = callback_url(emulator, CHEN, sent.card_url(emulator))
    # Wang's phone is itself halfway through the authorization: it holds a nonce of its own.
    wang_phone, _ = callback_url(emulator, WANG, sent.card_url(emulator))

    someone_else = requests.Session().get(callback, timeout=20)
    wang_replays = wang_phone.get(callback, timeout=20)
    chen = chen_phone.get(callback, timeout=20)
    chen_again = chen_phone.get(callback, timeout=20)

    assert is_generic_page(someone_else, sent.campaign)
    assert is_generic_page(wang_replays, sent.campaign)
    assert is_coupon_page(chen) and all(code in chen.text for code in sent.codes("chen"))
    assert is_generic_page(chen_again, sent.campaign)
    # Refused locally: the replays never reached WeChat, so Chen's code was still good.
    exchanges = emulator.control("GET", "calls", api="sns/oauth2/access_token")["calls"]
    assert [c["errcode"] for c in exchanges] == [0]


@pytest.mark.django_db(transaction=True)
def test_a_forged_state_or_an_expired_code_gets_the_generic_page(emulator):
    sent = send_campaign_with_a_pack(emulator)
    phone, callback = callback_url(emulator, CHEN, sent.card_url(emulator))
    state = parse_qs(urlsplit(callback).query)["state"][0]
    forged = phone.get(callback.replace(state, state[:-1] + ("0" if state[-1] != "0" else "1")), timeout=20)
    phone, callback = callback_url(emulator, CHEN, sent.card_url(emulator))
    emulator.control("POST", "clock", {"advance_seconds": 301})

    late = phone.get(callback, timeout=20)

    assert is_generic_page(forged, sent.campaign) and is_generic_page(late, sent.campaign)
    exchanges = emulator.control("GET", "calls", api="sns/oauth2/access_token")["calls"]
    assert [c["errcode"] for c in exchanges] == [40029]


@pytest.mark.django_db(transaction=True)
def test_wechat_failing_gets_the_generic_page_and_is_logged(emulator, caplog):
    sent = send_campaign_with_a_pack(emulator)
    emulator.control("POST", "faults", {"busy_rate": 1.0, "only_apis": ["sns/oauth2/access_token"]})

    with caplog.at_level(logging.WARNING, logger="campaigns.views"):
        page = open_in_wechat(emulator, CHEN, sent.card_url(emulator))

    assert is_generic_page(page, sent.campaign)
    assert any("WeChat error -1" in record.getMessage() for record in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_without_an_official_account_or_a_coupon_pack_the_landing_page_is_served_at_once(emulator, settings):
    with_pack = send_campaign_with_a_pack(emulator)
    settings.WECHAT_OA_APPID = ""

    unconfigured = requests.get(with_pack.card_url(emulator), allow_redirects=False, timeout=20)

    settings.WECHAT_OA_APPID = OA_APPID
    Campaign.objects.filter(pk=with_pack.campaign.pk).update(coupon_pack=None)
    no_pack = requests.get(with_pack.card_url(emulator), allow_redirects=False, timeout=20)

    assert unconfigured.status_code == 200 and "会员日券包" in unconfigured.text
    assert no_pack.status_code == 200 and with_pack.campaign.name in no_pack.text
    assert emulator.control("GET", "calls", api="sns/oauth2/access_token")["count"] == 0


# The state -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_state_verifies_once_for_its_purpose_and_nonce_within_ten_minutes(monkeypatch):
    cache.clear()
    state, nonce = oauth.oa_state_issue(purpose="campaign-landing:1")
    other_state, other_nonce = oauth.oa_state_issue(purpose="campaign-landing:1")
    old_state, old_nonce = oauth.oa_state_issue(purpose="campaign-landing:1")

    wrong_nonce = oauth.oa_state_verify(state=state, nonce=other_nonce, purpose="campaign-landing:1")
    wrong_purpose = oauth.oa_state_verify(state=state, nonce=nonce, purpose="campaign-landing:2")
    good = oauth.oa_state_verify(state=state, nonce=nonce, purpose="campaign-landing:1")
    replay = oauth.oa_state_verify(state=state, nonce=nonce, purpose="campaign-landing:1")
    now = oauth.time.time()
    monkeypatch.setattr(oauth.time, "time", lambda: now + oauth.STATE_MAX_AGE + 2)
    expired = oauth.oa_state_verify(state=old_state, nonce=old_nonce, purpose="campaign-landing:1")

    assert (wrong_nonce, wrong_purpose, good, replay, expired) == (False, False, True, False, False)
    assert state.isalnum() and len(state) <= 128 and state != other_state
