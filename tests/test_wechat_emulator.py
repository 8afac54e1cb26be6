"""The emulator plays the customers' WeChat: the Official Account's web authorization (网页授权) with WeChat's
protocol — the authorize redirect, single-use five-minute codes, the code exchange and its error codes, a
stable openid per Official Account and customer, the unionid — all over real HTTP."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from wecom.emulator import limits as L
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.server import start_emulator
from wecom.emulator.wechat import WECHAT_USER_COOKIE

OA_APPID, OA_SECRET = "wx1234567890abcdef", "0123456789abcdef0123456789abcdef"
BRAND = "http://shop.example.com"
CUSTOMER, OTHER = "wmWeChatCustomerA000000000000001", "wmWeChatCustomerB000000000000002"


@pytest.fixture
def emulator():
    running = start_emulator(
        EmulatorConfig(
            corp_id="wwwechattest000001",
            agent_id="1000002",
            secret="wecom-secret",
            token="Token",
            encoding_aes_key="b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE",
            callback_url=f"{BRAND}/wecom/callback/",
            sidebar_url=f"{BRAND}/sidebar/",
            oa_appid=OA_APPID,
            oa_secret=OA_SECRET,
        )
    )
    running.control("POST", "faults", {"callbacks": "off"})
    running.control("POST", "customers", {"name": "陈静", "external_userid": CUSTOMER, "unionid": "ou-chenjing"})
    running.control("POST", "customers", {"name": "王磊", "external_userid": OTHER})
    yield running
    running.stop()


def _in_wechat(emulator, external_userid: str) -> requests.Session:
    """A browser that opened a page in this customer's WeChat."""
    browser = requests.Session()
    opened = browser.get(
        f"{emulator.url}/wechat/open",
        params={"external_userid": external_userid, "url": f"{BRAND}/m/x/"},
        allow_redirects=False,
        timeout=10,
    )
    assert (opened.status_code, opened.headers["Location"]) == (302, f"{BRAND}/m/x/")
    return browser


def _authorize(emulator, browser, **params) -> requests.Response:
    query = {
        "appid": OA_APPID,
        "redirect_uri": f"{BRAND}/m/x/?k=c1-a2-0",
        "response_type": "code",
        "scope": "snsapi_base",
        "state": "s7x",
    }
    query.update(params)
    return browser.get(emulator.authorize_url, params=query, allow_redirects=False, timeout=10)


def _code(response: requests.Response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def _exchange(emulator, code: str, **params) -> dict:
    query = {"appid": OA_APPID, "secret": OA_SECRET, "code": code, "grant_type": "authorization_code"}
    query.update(params)
    return requests.get(f"{emulator.url}/sns/oauth2/access_token", params=query, timeout=10).json()


def test_snsapi_base_redirects_silently_with_a_code_that_names_the_customer_once(emulator):
    browser = _in_wechat(emulator, CUSTOMER)

    response = _authorize(emulator, browser)
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    first = _exchange(emulator, query["code"][0])
    second = _exchange(emulator, query["code"][0])

    assert response.status_code == 302
    assert (location.netloc, location.path) == ("shop.example.com", "/m/x/")
    assert (query["k"], query["state"]) == (["c1-a2-0"], ["s7x"])
    assert set(first) == {"access_token", "expires_in", "refresh_token", "openid", "scope", "unionid"}
    assert (first["expires_in"], first["scope"], first["unionid"]) == (7200, "snsapi_base", "ou-chenjing")
    assert first["openid"].startswith("o") and len(first["openid"]) == 28 and first["openid"] != CUSTOMER
    assert second["errcode"] == L.OA_CODE_USED and second["errmsg"].startswith("code been used")
    assert "access_token" not in second


def test_the_openid_is_stable_per_official_account_and_customer_and_a_customer_without_unionid_has_none(emulator):
    chen, wang = _in_wechat(emulator, CUSTOMER), _in_wechat(emulator, OTHER)

    chen_first = _exchange(emulator, _code(_authorize(emulator, chen)))
    chen_again = _exchange(emulator, _code(_authorize(emulator, chen)))
    wang_first = _exchange(emulator, _code(_authorize(emulator, wang)))

    assert chen_first["openid"] == chen_again["openid"]
    assert chen_first["access_token"] != chen_again["access_token"]
    assert wang_first["openid"] not in (chen_first["openid"], OTHER)
    assert "unionid" not in wang_first


def test_a_code_expires_after_five_minutes(emulator):
    browser = _in_wechat(emulator, CUSTOMER)
    fresh, stale = _code(_authorize(emulator, browser)), _code(_authorize(emulator, browser))
    emulator.control("POST", "clock", {"advance_seconds": L.OA_CODE_TTL_SECONDS - 5})
    in_time = _exchange(emulator, fresh)

    emulator.control("POST", "clock", {"advance_seconds": 10})
    late = _exchange(emulator, stale)

    assert "openid" in in_time
    assert late["errcode"] == L.OA_INVALID_CODE and "openid" not in late


def test_wrong_appid_secret_grant_type_or_code_answer_wechat_error_codes_and_leave_the_code_unused(emulator):
    code = _code(_authorize(emulator, _in_wechat(emulator, CUSTOMER)))

    answers = [
        _exchange(emulator, code, appid="wx0000000000000000")["errcode"],
        _exchange(emulator, code, secret="f" * 32)["errcode"],
        _exchange(emulator, code, secret="")["errcode"],
        _exchange(emulator, code, grant_type="client_credential")["errcode"],
        _exchange(emulator, "not-a-code")["errcode"],
        _exchange(emulator, "")["errcode"],
    ]
    good = _exchange(emulator, code)

    assert answers == [40013, 40125, 41004, 40002, 40029, 41008]
    assert good["unionid"] == "ou-chenjing"
    calls = emulator.control("GET", "calls", api="sns/oauth2/access_token")["calls"]
    assert [c["errcode"] for c in calls] == [*answers, 0]
    assert all("secret" not in c["params"] for c in calls)


def test_authorize_errors_show_wechats_error_page_and_never_redirect(emulator):
    browser = _in_wechat(emulator, CUSTOMER)

    no_redirect = _authorize(emulator, browser, redirect_uri="")
    foreign = _authorize(emulator, browser, redirect_uri="https://evil.example.net/steal")
    bad_scope = _authorize(emulator, browser, scope="snsapi_login")
    wrong_appid = _authorize(emulator, browser, appid="wx0000000000000000")

    for response in (no_redirect, foreign, bad_scope, wrong_appid):
        assert response.status_code == 200 and "Location" not in response.headers
    assert "redirect_uri" in no_redirect.text
    assert "10003" in foreign.text
    assert "scope" in bad_scope.text
    assert "appid" in wrong_appid.text and "参数错误" in wrong_appid.text


def test_without_a_customer_the_authorize_page_asks_who_is_browsing(emulator):
    browser = requests.Session()

    asked = _authorize(emulator, browser)
    pick = browser.get(
        f"{emulator.url}/wechat/open",
        params={"external_userid": OTHER, "url": f"{emulator.authorize_url}?appid={OA_APPID}"},
        allow_redirects=False,
        timeout=10,
    )

    assert asked.status_code == 200 and "Location" not in asked.headers
    assert "陈静" in asked.text and "王磊" in asked.text and "/wechat/open?" in asked.text
    assert pick.status_code == 302 and browser.cookies.get(WECHAT_USER_COOKIE) == OTHER


def test_snsapi_userinfo_asks_for_consent_once_and_the_token_reads_the_profile(emulator):
    browser = _in_wechat(emulator, CUSTOMER)

    consent = _authorize(emulator, browser, scope="snsapi_userinfo")
    denied = browser.post(consent.url, data={"action": "deny"}, allow_redirects=False, timeout=10)
    allowed = browser.post(consent.url, data={"action": "allow"}, allow_redirects=False, timeout=10)
    token = _exchange(emulator, _code(allowed))
    silent = _authorize(emulator, browser, scope="snsapi_userinfo")
    info = requests.get(
        f"{emulator.url}/sns/userinfo",
        params={"access_token": token["access_token"], "openid": token["openid"], "lang": "zh_CN"},
        timeout=10,
    ).json()
    base_token = _exchange(emulator, _code(_authorize(emulator, browser)))
    refused = requests.get(
        f"{emulator.url}/sns/userinfo",
        params={"access_token": base_token["access_token"], "openid": base_token["openid"]},
        timeout=10,
    ).json()

    assert consent.status_code == 200 and "允许" in consent.text and "Location" not in consent.headers
    assert denied.status_code == 200 and "Location" not in denied.headers
    assert allowed.status_code == 302 and token["scope"] == "snsapi_userinfo"
    assert silent.status_code == 302
    assert (info["openid"], info["nickname"], info["unionid"]) == (token["openid"], "陈静", "ou-chenjing")
    assert refused["errcode"] == L.OA_API_UNAUTHORIZED
