"""Store managers sign in to admin with WeCom, through the local emulator over HTTP: web login (the QR page, where the
emulated member scans and confirms) in a browser, OAuth inside the WeCom client. Unknown members, associates without
an admin account or staff rights, inactive accounts, and a bad or replayed state are refused with a stable code and
nobody is signed in; the password form and django-axes are as before."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY

from associates.models import Associate
from tests.factories import AssociateFactory, StoreFactory, UserFactory
from tests.live_emulator import live_emulator

CORP_ID, AGENT_ID, SECRET = "wwadminlogin000001", "1000002", "admin-login-secret"
TOKEN, AES_KEY = "AdminLoginToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"
OMNI = "http://testserver"


@pytest.fixture
def emulator(settings, db):
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, OMNI, **config, callbacks=False) as running:
        yield running


@pytest.fixture
def staff(emulator):
    store = StoreFactory(code="SH01", name="上海静安店")
    people = {}
    for userid, name, user in [
        ("zhoujie", "周杰", UserFactory(username="manager_sh01")),
        ("linyu", "林雨", None),
        ("nostaff", "无权限", UserFactory(username="plain", is_staff=False)),
        ("gone", "已停用账号", UserFactory(username="gone", is_active=False)),
        ("stranger", "陌生人", None),
    ]:
        emulator.control("POST", "associates", {"userid": userid, "name": name, "store": store.name})
        if userid != "stranger":
            people[userid] = AssociateFactory(
                store=store, wecom_userid=userid, name=name, user=user, role=Associate.Role.STORE_MANAGER
            )
    return people


def _start(client, **headers):
    response = client.get("/wecom/admin-login/", {"next": "/admin/insights/salestarget/"}, **headers)
    assert response.status_code == 302
    return response["Location"]


def _scan(location: str, userid: str) -> str:
    """The member scans the QR code on the emulator's web-login page and confirms: where WeCom sends the browser."""
    page = requests.get(location, timeout=10)
    assert page.status_code == 200 and "企业微信登录" in page.text and f'data-userid="{userid}"' in page.text
    confirmed = requests.post(location, data={"userid": userid}, allow_redirects=False, timeout=10)
    assert confirmed.status_code == 302
    return confirmed.headers["Location"]


def _back(client, location: str):
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == OMNI
    return client.get(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})


def test_the_login_page_offers_wecom_beside_the_password(client, staff):
    html = client.get("/admin/login/").content.decode()

    assert 'id="login-form"' in html and "企业微信登录" in html and 'href="/wecom/admin-login/' in html


def test_a_manager_signs_in_by_scanning_the_qr_code(client, staff, emulator):
    location = _start(client)
    query = parse_qs(urlsplit(location).query)

    back = _back(client, _scan(location, "zhoujie"))

    assert location.startswith(f"{emulator.url}/wwlogin/sso/login?")
    assert (query["login_type"], query["appid"], query["agentid"]) == (["CorpApp"], [CORP_ID], [AGENT_ID])
    assert query["redirect_uri"] == [f"{OMNI}/wecom/admin-login/callback/"]
    assert back.status_code == 302 and back["Location"] == "/admin/insights/salestarget/"
    assert client.session[AUTH_SESSION_KEY] == str(staff["zhoujie"].user.pk)
    assert client.get("/admin/").status_code == 200


def test_inside_the_wecom_client_the_sign_in_is_oauth(client, staff, emulator):
    location = _start(client, HTTP_USER_AGENT="Mozilla/5.0 wxwork/4.1.0 MicroMessenger/7.0.1")

    authorized = requests.get(
        location.replace("#wechat_redirect", ""), params={"as_userid": "zhoujie"}, allow_redirects=False, timeout=10
    )
    back = _back(client, authorized.headers["Location"])

    assert location.startswith(f"{emulator.url}/connect/oauth2/authorize?")
    assert back.status_code == 302
    assert client.session[AUTH_SESSION_KEY] == str(staff["zhoujie"].user.pk)


@pytest.mark.parametrize(
    "userid,code,status",
    [
        ("stranger", "unknown_member", 403),
        ("linyu", "no_admin_account", 403),
        ("nostaff", "not_staff", 403),
        ("gone", "inactive_user", 403),
    ],
)
def test_who_may_not_sign_in_is_refused_with_a_stable_code(client, staff, userid, code, status):
    back = _back(client, _scan(_start(client), userid))

    assert back.status_code == status
    assert f'data-code="{code}"' in back.content.decode()
    assert AUTH_SESSION_KEY not in client.session


def test_a_deactivated_associate_is_refused(client, staff):
    Associate.objects.filter(wecom_userid="zhoujie").update(is_active=False)

    back = _back(client, _scan(_start(client), "zhoujie"))

    assert back.status_code == 403 and 'data-code="unknown_member"' in back.content.decode()
    assert AUTH_SESSION_KEY not in client.session


def test_a_replayed_or_forged_state_is_refused(client, staff, settings):
    back_to_omni = _scan(_start(client), "zhoujie")
    parts = urlsplit(back_to_omni)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}

    forged = client.get(parts.path, {**params, "state": "not-ours"})
    first = _back(client, _scan(_start(client), "zhoujie"))
    client.logout()
    replayed = _back(client, back_to_omni)
    other_browser = type(client)().get(parts.path, params)

    assert forged.status_code == 400 and 'data-code="bad_state"' in forged.content.decode()
    assert first.status_code == 302
    assert replayed.status_code == 400 and 'data-code="bad_state"' in replayed.content.decode()
    assert other_browser.status_code == 400 and 'data-code="bad_state"' in other_browser.content.decode()
    assert AUTH_SESSION_KEY not in client.session


def test_a_code_used_once_is_refused_the_second_time(client, staff):
    back_to_omni = _scan(_start(client), "zhoujie")
    code = parse_qs(urlsplit(back_to_omni).query)["code"][0]
    assert _back(client, back_to_omni).status_code == 302
    client.logout()

    state = parse_qs(urlsplit(_start(client)).query)["state"][0]
    again = client.get("/wecom/admin-login/callback/", {"code": code, "state": state})

    assert again.status_code == 400 and 'data-code="code_used"' in again.content.decode()
    assert AUTH_SESSION_KEY not in client.session


def test_the_emulator_refuses_a_web_login_for_another_corp_or_an_untrusted_host(emulator):
    base = f"{emulator.url}/wwlogin/sso/login"
    common = {"login_type": "CorpApp", "agentid": AGENT_ID, "state": "s"}

    wrong_corp = requests.get(base, params={**common, "appid": "wwother", "redirect_uri": f"{OMNI}/x"}, timeout=10)
    untrusted = requests.get(
        base, params={**common, "appid": CORP_ID, "redirect_uri": "http://evil.test/x"}, timeout=10
    )

    assert "40013" in wrong_corp.text
    assert "不是应用的可信域名" in untrusted.text


def test_the_password_sign_in_stays_locked_out_after_too_many_failures(client, staff, settings):
    user = staff["zhoujie"].user
    user.set_password("right-password")
    user.save()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "manager_sh01", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")

    locked = client.post(
        "/admin/login/", {"username": "manager_sh01", "password": "right-password"}, REMOTE_ADDR="10.0.0.1"
    )

    assert locked.status_code == 429
    assert AUTH_SESSION_KEY not in client.session
