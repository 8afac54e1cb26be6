"""`manage.py wecom_check` and the admin page 企业微信接入检查, against the local WeCom emulator over HTTP: all ok on
the demo's set-up, and each fault an operator meets in WeCom's console — a caller outside the trusted IPs, a wrong
secret or corp id, a callback URL that fails WeCom's echo check, a trusted domain that is not Omni's, a store outside
the app's visible range, associates without the customer-contact permission, a skewed clock — made in the emulator
(which refuses as WeCom does) and named on its line with where to fix it, with exit status 1."""

import base64
from email.utils import parsedate_to_datetime
from io import StringIO

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from associates.models import Store
from demo.seed import demo_seed
from tests.factories import AssociateFactory, StoreFactory
from tests.live_emulator import live_emulator
from wecom.client import WeComError, wecom_client

CORP_ID, AGENT_ID, SECRET = "wwomnicheck0000001", "1000002", "omni-check-secret"
TOKEN, AES_KEY = "OmniCheckToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"
CHECKS = ["settings", "token", "ip", "callback", "jssdk", "visible_range", "customer_contact", "clock"]
STORES = (
    (2, "SH01", "上海静安店", (("linyu", "林雨"), ("zhoumin", "周敏"))),
    (3, "BJ01", "北京三里屯店", (("wangfang", "王芳"),)),
)


@pytest.fixture
def emulator(live_server, settings):
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, live_server.url, **config) as running:
        settings.WECOM_EMULATOR_URL = running.url
        yield running


@pytest.fixture
def brand(transactional_db, emulator):
    """Two stores, each a department of the corp, and their associates, in Omni and in WeCom alike."""
    for department, code, name, staff in STORES:
        emulator.control("POST", "departments", {"id": department, "name": name})
        store = StoreFactory(code=code, name=name, wecom_department_id=department)
        for userid, person in staff:
            AssociateFactory(store=store, wecom_userid=userid, name=person)
            body = {"userid": userid, "name": person, "store": name, "department": [department]}
            emulator.control("POST", "associates", body)


def _check(*args: str) -> tuple[int, dict[str, str]]:
    """The command's exit status and its lines by check name."""
    out = StringIO()
    try:
        call_command("wecom_check", *args, stdout=out)
        status = 0
    except CommandError as error:
        status = error.returncode
    lines = {}
    for line in out.getvalue().splitlines():
        words = line.split()
        if len(words) > 2 and words[0] in ("OK", "WARN", "FAIL"):
            lines[words[1]] = line
    return status, lines


def _statuses(lines: dict[str, str]) -> dict[str, str]:
    return {name: line.split()[0] for name, line in lines.items()}


def _admin(emulator, **settings) -> dict:
    return emulator.control("POST", "admin", settings)


# The demo ----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_every_check_is_ok_on_the_demo_set_up(emulator):
    demo_seed(customers=20)
    call_command("wecom_emulator_load_demo", emulator.url, per_associate=0, stdout=StringIO())

    status, lines = _check()

    assert _statuses(lines) == dict.fromkeys(CHECKS, "OK")
    assert status == 0
    assert "全部 6 家营业门店的部门都在应用的可见范围内" in lines["visible_range"]


@pytest.mark.django_db(transaction=True)
def test_every_check_is_ok_on_a_set_up_without_faults(brand):
    status, lines = _check()

    assert _statuses(lines) == dict.fromkeys(CHECKS, "OK")
    assert status == 0
    assert "全部 3 名在职导购都有客户联系权限" in lines["customer_contact"]


# Each fault, as WeCom refuses it ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_caller_outside_the_trusted_ips_is_named_with_its_address(emulator, brand):
    _admin(emulator, ip_allowlist=["203.0.113.7"])

    status, lines = _check()

    assert status == 1
    assert _statuses(lines)["token"] == "OK"  # WeCom hands out a token to anyone; the calls made with it are refused
    assert _statuses(lines)["ip"] == "FAIL"
    assert "60020" in lines["ip"] and "127.0.0.1" in lines["ip"]
    assert "应用管理 → 应用 → 自建 → 本应用 → 开发者接口 → 企业可信IP" in lines["ip"]
    assert {name: _statuses(lines)[name] for name in ("jssdk", "visible_range", "customer_contact")} == dict.fromkeys(
        ("jssdk", "visible_range", "customer_contact"), "WARN"
    )
    assert "未检查：本机 IP 不在企业可信IP中" in lines["jssdk"]


@pytest.mark.django_db(transaction=True)
def test_a_wrong_secret_fails_the_token_line_and_skips_the_api_checks(brand, settings):
    settings.WECOM_SECRET = "not-the-app-secret"

    status, lines = _check()

    assert status == 1
    assert _statuses(lines)["token"] == "FAIL"
    assert "40001" in lines["token"] and "WECOM_SECRET" in lines["token"]
    assert "自建 → 本应用 → Secret" in lines["token"]
    assert _statuses(lines)["ip"] == "WARN" and "未检查：取不到 access_token" in lines["ip"]
    assert _statuses(lines)["callback"] == "OK"  # needs no token


@pytest.mark.django_db(transaction=True)
def test_a_wrong_corp_id_is_named(brand, settings):
    settings.WECOM_CORP_ID = "wwnotthiscorp00001"

    status, lines = _check()

    assert status == 1
    assert "40013" in lines["token"] and "我的企业 → 企业信息 → 企业ID" in lines["token"]


@pytest.mark.django_db(transaction=True)
def test_missing_settings_are_named_by_their_variables(brand, settings):
    settings.WECOM_SECRET = ""
    settings.WECOM_TOKEN = ""

    status, lines = _check()

    assert status == 1
    assert _statuses(lines)["settings"] == "FAIL"
    assert "WECOM_SECRET, WECOM_TOKEN" in lines["settings"]
    assert _statuses(lines)["token"] == "WARN"


@pytest.mark.django_db(transaction=True)
def test_a_callback_token_that_is_not_wecoms_fails_the_echo_check(brand, settings):
    settings.WECOM_TOKEN = "NotWeComsToken"

    status, lines = _check()

    assert status == 1
    assert _statuses(lines)["callback"] == "FAIL"
    assert "签名不符" in lines["callback"] and "WECOM_TOKEN" in lines["callback"]
    assert "接收消息 → 设置API接收 → Token" in lines["callback"]


@pytest.mark.django_db(transaction=True)
def test_a_callback_key_that_is_not_wecoms_fails_the_echo_check(brand, settings):
    settings.WECOM_ENCODING_AES_KEY = base64.b64encode(b"another 32-byte EncodingAESKey!!").decode().rstrip("=")

    status, lines = _check()

    assert status == 1
    assert _statuses(lines)["callback"] == "FAIL"
    assert "WECOM_ENCODING_AES_KEY" in lines["callback"] and "EncodingAESKey" in lines["callback"]


@pytest.mark.django_db(transaction=True)
def test_without_the_emulator_omni_checks_its_own_public_callback_url(brand, settings, live_server):
    settings.WECOM_EMULATOR_URL = ""

    status, lines = _check()

    assert _statuses(lines)["callback"] == "OK"
    assert f"{live_server.url}/wecom/callback/" in lines["callback"]
    assert status == 0


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_public_url_fails_the_callback_line(brand, settings):
    settings.WECOM_EMULATOR_URL = ""
    settings.OMNI_PUBLIC_URL = "http://127.0.0.1:9"

    status, lines = _check("--skip", "jssdk")

    assert status == 1
    assert _statuses(lines)["callback"] == "FAIL"
    assert "http://127.0.0.1:9/wecom/callback/ 不通" in lines["callback"]
    assert "jssdk" not in lines


@pytest.mark.django_db(transaction=True)
def test_a_trusted_domain_that_is_not_omnis_fails_the_jssdk_line(emulator, brand):
    _admin(emulator, trusted_domain="shop.qimu.example")

    status, lines = _check()

    assert status == 1
    assert _statuses(lines)["jssdk"] == "FAIL"
    assert "可信域名是 shop.qimu.example" in lines["jssdk"]
    assert "网页授权及JS-SDK → 设置可信域名" in lines["jssdk"]


@pytest.mark.django_db(transaction=True)
def test_a_store_outside_the_visible_range_is_named_with_its_department(emulator, brand):
    _admin(emulator, visible_partys=[2])

    status, lines = _check()

    assert status == 1
    assert _statuses(lines)["visible_range"] == "FAIL"
    assert "北京三里屯店（部门 3）" in lines["visible_range"] and "上海静安店" not in lines["visible_range"]
    assert "可见范围 → 编辑，加入部门 3" in lines["visible_range"]


@pytest.mark.django_db(transaction=True)
def test_a_store_without_a_department_is_a_warning(brand):
    Store.objects.filter(code="BJ01").update(wecom_department_id=None)

    status, lines = _check()

    assert status == 0
    assert _statuses(lines)["visible_range"] == "WARN"
    assert "北京三里屯店（BJ01） 没有填企业微信部门 ID" in lines["visible_range"]


@pytest.mark.django_db(transaction=True)
def test_associates_without_the_customer_contact_permission_are_named(emulator, brand):
    _admin(emulator, contact_users=["linyu"])

    status, lines = _check()

    assert status == 1
    assert _statuses(lines)["customer_contact"] == "FAIL"
    line = lines["customer_contact"]
    assert "周敏（zhoumin，上海静安店）" in line and "王芳（wangfang，北京三里屯店）" in line and "林雨" not in line
    assert "84074" in line and "客户联系 → 权限配置 → 使用范围" in line


@pytest.mark.django_db(transaction=True)
def test_an_app_not_allowed_the_customer_contact_apis_is_named(emulator, brand):
    _admin(emulator, contact_api=False)

    status, lines = _check()

    assert status == 1
    assert "48002" in lines["customer_contact"] and "可调用接口的应用" in lines["customer_contact"]


@pytest.mark.django_db(transaction=True)
def test_a_clock_further_from_wecoms_than_callbacks_allow_fails(emulator, brand):
    emulator.control("POST", "clock", {"advance_seconds": 600})

    status, lines = _check()

    assert status == 1
    assert _statuses(lines)["clock"] == "FAIL"
    assert "本机时钟比企业微信慢 600 秒" in lines["clock"] or "本机时钟比企业微信慢 599 秒" in lines["clock"]
    assert "WECOM_CALLBACK_MAX_AGE" in lines["clock"] and "timedatectl set-ntp true" in lines["clock"]


@pytest.mark.django_db(transaction=True)
def test_a_clock_a_little_off_is_a_warning(emulator, brand):
    emulator.control("POST", "clock", {"advance_seconds": 90})

    status, lines = _check()

    assert _statuses(lines)["clock"] == "WARN"
    assert status == 0


@pytest.mark.django_db(transaction=True)
def test_warn_only_prints_the_failing_lines_and_exits_0(emulator, brand):
    _admin(emulator, ip_allowlist=["203.0.113.7"])

    status, lines = _check("--warn-only")

    assert status == 0
    assert _statuses(lines)["ip"] == "FAIL"


@pytest.mark.django_db(transaction=True)
def test_the_emulators_trusted_host_is_the_apps_trusted_domain(live_server, settings):
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, live_server.url, trusted_hosts=["omni.qimu.example"], **config) as running:
        settings.WECOM_EMULATOR_URL = running.url

        status, lines = _check("--skip", "visible_range")

    assert status == 1
    assert "可信域名是 omni.qimu.example" in lines["jssdk"]


# The emulator refuses as WeCom does ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_emulator_words_60020_as_wecom_and_still_hands_out_tokens(emulator, brand):
    _admin(emulator, ip_allowlist=["203.0.113.7"])
    client = wecom_client()

    token = client.fetch_access_token()["access_token"]
    with pytest.raises(WeComError) as refused:
        client.get("agent/get", params={"agentid": AGENT_ID})

    assert token
    assert refused.value.errcode == 60020
    assert refused.value.errmsg.startswith("not allow to access from your ip, hint: [")
    assert ", from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=60020" in (
        refused.value.errmsg
    )


@pytest.mark.django_db(transaction=True)
def test_the_emulator_reports_the_visible_range_and_the_trusted_domain(emulator, brand):
    _admin(emulator, visible_partys=[2], visible_users=["wangfang"], trusted_domain="shop.qimu.example")
    client = wecom_client()

    agent = client.get("agent/get", params={"agentid": AGENT_ID})
    departments = client.get("department/simplelist")["department_id"]

    assert agent["allow_partys"] == {"partyid": [2]}
    assert agent["allow_userinfos"] == {"user": [{"userid": "wangfang"}]}
    assert agent["redirect_domain"] == "shop.qimu.example"
    assert [d["id"] for d in departments] == [2]
    assert client.get("user/get", params={"userid": "wangfang"})["department"] == [3]  # visible by name
    with pytest.raises(WeComError) as hidden:
        client.get("department/simplelist", params={"id": 3})
    assert hidden.value.errcode == 60011


@pytest.mark.django_db(transaction=True)
def test_the_emulator_refuses_customer_contact_calls_for_members_without_the_permission(emulator, brand):
    _admin(emulator, contact_users=["linyu"])
    client = wecom_client()

    follow = client.external_contact.get_follow_user_list()["follow_user"]
    with pytest.raises(WeComError) as refused:
        client.get("externalcontact/list", params={"userid": "zhoumin"})

    assert follow == ["linyu"]
    assert refused.value.errcode == 84074


@pytest.mark.django_db(transaction=True)
def test_the_emulators_answers_carry_its_clock_in_a_date_header(emulator):
    emulator.control("POST", "clock", {"advance_seconds": 3600})

    response = requests.get(f"{emulator.api_base}gettoken", timeout=10)

    assert parsedate_to_datetime(response.headers["Date"]).timestamp() == pytest.approx(
        emulator.control("GET", "state")["now"], abs=5
    )


# The admin page ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_admin_page_shows_the_same_lines_to_a_superuser(emulator, brand, client):
    _admin(emulator, visible_partys=[2])
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(superuser)

    page = client.get("/admin/wecom/check/")
    index = client.get("/admin/wecom/")

    assert page.status_code == 200
    text = page.content.decode()
    assert [r.name for r in page.context["results"]] == CHECKS
    assert {r.name: r.status for r in page.context["results"]}["visible_range"] == "fail"
    assert "北京三里屯店（部门 3）" in text and "1 项失败" in text
    assert 'href="/admin/wecom/check/"' in index.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_admin_page_is_refused_to_staff_who_are_not_superusers(emulator, brand, client):
    staff = get_user_model().objects.create_user("hq2", password="pw", is_staff=True)
    client.force_login(staff)

    page = client.get("/admin/wecom/check/")
    client.logout()
    anonymous = client.get("/admin/wecom/check/")

    assert page.status_code == 403
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    assert emulator.control("GET", "calls", api="agent/get")["count"] == 0
