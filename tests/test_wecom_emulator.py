"""The local WeCom emulator speaks WeCom's protocol: tokens, limits, error codes, welcome codes, mass
messages, encrypted callbacks with retries, QR codes, media and OAuth, all over real HTTP."""

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from wecom.crypto import CallbackCrypto
from wecom.emulator import limits as L
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.server import RunningEmulator, start_emulator
from wecom.jssdk import jssdk_signature

CORP_ID, AGENT_ID, SECRET = "wwe1a2b3c4d5e6f708", "1000002", "emulator-test-secret"
TOKEN, AES_KEY = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
PNG_1PX = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


class CallbackReceiver:
    """A tiny HTTP server standing in for Omni's /wecom/callback/: records requests, answers as told."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list = []  # per request: an HTTP status, or ("slow", seconds); then 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append({"query": parse_qs(urlsplit(self.path).query), "body": body})
                    action = receiver.script.pop(0) if receiver.script else 200
                if isinstance(action, tuple):
                    time.sleep(action[1])
                    action = 200
                self.send_response(action)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"success")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wecom/callback/"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def events(self) -> list[dict]:
        crypto = CallbackCrypto(token=TOKEN, encoding_aes_key=AES_KEY, corp_id=CORP_ID)
        return [
            crypto.decrypt_message(
                body=r["body"],
                msg_signature=r["query"]["msg_signature"][0],
                timestamp=r["query"]["timestamp"][0],
                nonce=r["query"]["nonce"][0],
            )
            for r in self.requests
        ]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = CallbackReceiver()
    yield receiver
    receiver.stop()


def _config(callback_url: str, **overrides) -> EmulatorConfig:
    values = dict(
        corp_id=CORP_ID,
        agent_id=AGENT_ID,
        secret=SECRET,
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        callback_url=callback_url,
        sidebar_url="http://127.0.0.1:8000/sidebar/",
    )
    values.update(overrides)
    return EmulatorConfig(**values)


@pytest.fixture
def emulator(receiver):
    running = start_emulator(_config(receiver.url))
    running.control("POST", "faults", {"callback_timeout": 0.5, "callback_retry_delay": 0.05})
    yield running
    running.stop()


class WeCom:
    """What a WeCom client does: fetch a token, then call the API with it."""

    def __init__(self, running: RunningEmulator):
        self.base = running.api_base
        self.token = ""

    def gettoken(self, corpid=CORP_ID, secret=SECRET) -> dict:
        return requests.get(f"{self.base}gettoken", params={"corpid": corpid, "corpsecret": secret}, timeout=10).json()

    def _token(self) -> str:
        if not self.token:
            self.token = self.gettoken()["access_token"]
        return self.token

    def get(self, path: str, **params) -> dict:
        params.setdefault("access_token", self._token())
        return requests.get(f"{self.base}{path}", params=params, timeout=10).json()

    def post(self, path: str, body: dict, **params) -> dict:
        params.setdefault("access_token", self._token())
        return requests.post(f"{self.base}{path}", params=params, json=body, timeout=10).json()


@pytest.fixture
def wecom(emulator):
    return WeCom(emulator)


def _associate(emulator, userid="zhangsan", name="张三", store="上海南京西路店") -> dict:
    return emulator.control("POST", "associates", {"userid": userid, "name": name, "store": store})


def _friend(emulator, userid="zhangsan", name="李四", **add) -> tuple[str, dict]:
    customer = emulator.control("POST", "customers", {"name": name, "gender": 2})
    added = emulator.control(
        "POST", "contacts/add", {"external_userid": customer["external_userid"], "userid": userid, **add}
    )
    return customer["external_userid"], added


def _deliveries(emulator, **filters) -> list[dict]:
    return emulator.control("GET", "deliveries", wait=20, **filters)["deliveries"]


# Tokens ------------------------------------------------------------------------------------------------


def test_gettoken_issues_a_token_that_every_api_accepts_and_reissues_it_while_valid(wecom):
    first = wecom.gettoken()
    again = wecom.gettoken()

    assert first["errcode"] == 0 and first["errmsg"] == "ok"
    assert first["expires_in"] == L.TOKEN_TTL_SECONDS
    assert again["access_token"] == first["access_token"]
    assert wecom.get("externalcontact/get_follow_user_list", access_token=first["access_token"])["errcode"] == 0


def test_gettoken_refuses_a_wrong_corpid_or_secret(wecom):
    assert wecom.gettoken(corpid="wwnotthiscorp")["errcode"] == 40013
    assert wecom.gettoken(secret="wrong")["errcode"] == 40001
    assert wecom.gettoken(corpid="")["errcode"] == 41002


def test_a_missing_or_unknown_token_is_refused(wecom):
    missing = requests.get(f"{wecom.base}externalcontact/get_follow_user_list", timeout=10).json()
    unknown = wecom.get("externalcontact/get_follow_user_list", access_token="not-a-token")

    assert missing["errcode"] == 41001
    assert unknown["errcode"] == 40014
    assert "more info at https://open.work.weixin.qq.com/devtool/query?e=40014" in unknown["errmsg"]


def test_a_token_expires_on_the_clock_and_a_new_one_is_issued(emulator, wecom):
    token = wecom.gettoken()["access_token"]

    emulator.control("POST", "clock", {"advance_seconds": L.TOKEN_TTL_SECONDS + 1})
    expired = wecom.get("externalcontact/get_follow_user_list", access_token=token)
    fresh = wecom.gettoken()

    assert expired["errcode"] == 42001
    assert fresh["access_token"] != token
    assert wecom.get("externalcontact/get_follow_user_list", access_token=fresh["access_token"])["errcode"] == 0


def test_faults_shorten_the_token_ttl_and_expire_every_token_now(emulator, wecom):
    emulator.control("POST", "faults", {"token_ttl": 60})
    token = wecom.gettoken()

    emulator.control("POST", "faults", {"expire_tokens_now": True})

    assert token["expires_in"] == 60
    assert wecom.get("externalcontact/get_follow_user_list", access_token=token["access_token"])["errcode"] == 42001


def test_the_call_log_counts_gettoken_calls_without_secrets(emulator, wecom):
    wecom.gettoken()
    wecom.get("externalcontact/get_follow_user_list")  # fetches its own token first
    wecom.get("externalcontact/get_follow_user_list")

    calls = emulator.control("GET", "calls", api="gettoken")

    assert calls["count"] == 2
    assert calls["calls"][0]["params"] == {"corpid": CORP_ID}
    assert SECRET not in json.dumps(emulator.control("GET", "calls"))


# Limits and faults -------------------------------------------------------------------------------------


def test_rate_limit_fault_at_rate_one_answers_45009_for_the_chosen_api_only(emulator, wecom):
    wecom.gettoken()
    emulator.control("POST", "faults", {"rate_limit_rate": 1.0, "only_apis": ["externalcontact/get_follow_user_list"]})

    limited = wecom.get("externalcontact/get_follow_user_list")
    other = wecom.get("externalcontact/list", userid="nobody")

    assert limited["errcode"] == 45009
    assert "api freq out of limit" in limited["errmsg"]
    assert other["errcode"] == 40003


def test_busy_fault_answers_minus_one(emulator, wecom):
    emulator.control("POST", "faults", {"busy_rate": 1.0})

    assert wecom.gettoken()["errcode"] == -1


def test_exceeding_the_per_minute_limit_answers_45009_and_blocks_the_api(emulator, wecom):
    wecom.gettoken()
    emulator.control("POST", "faults", {"per_minute_limit": 3})

    answers = [wecom.get("externalcontact/get_follow_user_list")["errcode"] for _ in range(5)]

    assert answers == [0, 0, 0, 45009, 45009]
    assert wecom.get("externalcontact/get", external_userid="wm" + "a" * 30)["errcode"] == 84061


def test_debug_1_gets_no_special_treatment(emulator, wecom):
    answer = wecom.get("externalcontact/get_follow_user_list", debug="1")

    assert answer["errcode"] == 0


def test_bad_fault_values_are_refused_and_change_nothing(emulator):
    response = requests.post(
        f"{emulator.url}/control/faults", json={"busy_rate": 0.5, "rate_limit_rate": 2}, timeout=10
    )

    assert response.status_code == 400
    assert emulator.control("GET", "faults")["busy_rate"] == 0.0


# Customers ---------------------------------------------------------------------------------------------


def test_contact_get_answers_the_customer_with_follow_users_and_wecom_error_codes(emulator, wecom):
    _associate(emulator)
    external_userid, _ = _friend(emulator, state="store_sh01")

    found = wecom.get("externalcontact/get", external_userid=external_userid)
    malformed = wecom.get("externalcontact/get", external_userid="not-an-id")
    stranger = wecom.get("externalcontact/get", external_userid="wm" + "b" * 30)

    assert len(external_userid) == 32 and external_userid.startswith("wm")
    assert found["external_contact"] == {
        "external_userid": external_userid,
        "name": "李四",
        "type": 1,
        "avatar": f"{emulator.url}/avatar/{external_userid}.svg",
        "gender": 2,
    }
    assert found["follow_user"][0]["userid"] == "zhangsan"
    assert found["follow_user"][0]["state"] == "store_sh01"
    assert malformed["errcode"] == 40096
    assert stranger["errcode"] == 84061


def test_a_customer_without_a_photo_gets_a_drawn_avatar_and_one_with_a_photo_keeps_it(emulator, wecom):
    _associate(emulator)
    drawn, _ = _friend(emulator, name="<李>四")
    photo = "https://wx.qlogo.cn/mmhead/Q3auHgzwzM5xLisi/132"
    customer = emulator.control("POST", "customers", {"name": "王五", "avatar": photo})
    emulator.control("POST", "contacts/add", {"external_userid": customer["external_userid"], "userid": "zhangsan"})

    url = wecom.get("externalcontact/get", external_userid=drawn)["external_contact"]["avatar"]
    image = requests.get(url, timeout=10)
    unknown = requests.get(f"{emulator.url}/avatar/wm{'c' * 30}.svg", timeout=10)

    assert url == f"{emulator.url}/avatar/{drawn}.svg"
    assert image.headers["Content-Type"] == "image/svg+xml"
    assert image.text.startswith("<svg") and "&lt;</text>" in image.text
    assert image.text == requests.get(url, timeout=10).text
    assert unknown.status_code == 404
    photo_view = wecom.get("externalcontact/get", external_userid=customer["external_userid"])
    assert photo_view["external_contact"]["avatar"] == photo


def test_contact_list_answers_84061_for_a_member_without_customers(emulator, wecom):
    _associate(emulator)

    assert wecom.get("externalcontact/list", userid="zhangsan")["errcode"] == 84061
    _friend(emulator)
    assert len(wecom.get("externalcontact/list", userid="zhangsan")["external_userid"]) == 1


def test_batch_get_by_user_pages_with_next_cursor_and_refuses_the_old_userid_form(emulator, wecom):
    _associate(emulator)
    _associate(emulator, userid="lisi", name="李斯")
    for index in range(3):
        _friend(emulator, name=f"客户{index}")
    _friend(emulator, userid="lisi", name="客户3")

    first = wecom.post("externalcontact/batch/get_by_user", {"userid_list": ["zhangsan", "lisi"], "limit": 3})
    second = wecom.post(
        "externalcontact/batch/get_by_user",
        {"userid_list": ["zhangsan", "lisi"], "limit": 3, "cursor": first["next_cursor"]},
    )
    old_form = wecom.post("externalcontact/batch/get_by_user", {"userid": "zhangsan"})
    too_many = wecom.post("externalcontact/batch/get_by_user", {"userid_list": [f"u{i}" for i in range(101)]})

    assert [c["follow_info"]["userid"] for c in first["external_contact_list"]] == ["zhangsan"] * 3
    assert first["next_cursor"]
    assert [c["external_contact"]["name"] for c in second["external_contact_list"]] == ["客户3"]
    assert second["next_cursor"] == ""
    assert old_form["errcode"] == 40058
    assert too_many["errcode"] == 40058


def test_mark_tag_changes_tags_without_a_callback(emulator, wecom):
    _associate(emulator)
    external_userid, _ = _friend(emulator)
    group = wecom.post(
        "externalcontact/add_corp_tag", {"group_name": "兴趣", "tag": [{"name": "护肤"}, {"name": "彩妆"}]}
    )
    tag_ids = [t["id"] for t in group["tag_group"]["tag"]]
    before = len(_deliveries(emulator))

    marked = wecom.post(
        "externalcontact/mark_tag", {"userid": "zhangsan", "external_userid": external_userid, "add_tag": tag_ids}
    )
    unknown = wecom.post(
        "externalcontact/mark_tag", {"userid": "zhangsan", "external_userid": external_userid, "add_tag": ["etnope"]}
    )
    contact = wecom.get("externalcontact/get", external_userid=external_userid)

    assert marked["errcode"] == 0
    assert unknown["errcode"] == 40068
    assert [t["tag_name"] for t in contact["follow_user"][0]["tags"]] == ["护肤", "彩妆"]
    assert len(_deliveries(emulator)) == before
    assert (
        wecom.post("externalcontact/add_corp_tag", {"group_name": "兴趣", "tag": [{"name": "护肤"}]})["errcode"]
        == 40071
    )


def test_tags_made_in_the_admin_console_fire_change_external_tag(emulator, wecom, receiver):
    created = emulator.control("POST", "tags", {"group_name": "会员等级", "names": ["金卡", "银卡"]})
    emulator.control("POST", "tags", {"group_name": "会员等级", "names": ["黑卡"]})
    _deliveries(emulator)

    listed = wecom.post("externalcontact/get_corp_tag_list", {})

    assert [(e["Event"], e["TagType"], e["ChangeType"]) for e in receiver.events()] == [
        ("change_external_tag", "tag_group", "create"),
        ("change_external_tag", "tag", "create"),
    ]
    assert receiver.events()[0]["Id"] == created["group_id"]
    assert [t["name"] for t in listed["tag_group"][0]["tag"]] == ["金卡", "银卡", "黑卡"]


def test_contact_way_state_comes_back_in_the_add_callback_and_its_qr_is_a_png(emulator, wecom, receiver):
    _associate(emulator)
    way = wecom.post(
        "externalcontact/add_contact_way", {"type": 1, "scene": 2, "state": "campaign_spring", "user": ["zhangsan"]}
    )
    customer = emulator.control("POST", "customers", {"name": "王五"})

    emulator.control(
        "POST", "contacts/add", {"external_userid": customer["external_userid"], "config_id": way["config_id"]}
    )
    _deliveries(emulator)
    png = requests.get(way["qr_code"], timeout=10)

    assert receiver.events()[-1]["State"] == "campaign_spring"
    assert receiver.events()[-1]["ChangeType"] == "add_external_contact"
    assert png.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).format == "PNG"
    too_long = wecom.post(
        "externalcontact/add_contact_way", {"type": 1, "scene": 2, "state": "x" * 31, "user": ["zhangsan"]}
    )
    assert too_long["errcode"] == 40058


# Welcome messages --------------------------------------------------------------------------------------


def test_a_welcome_code_sends_once_and_the_message_lands_in_the_chat(emulator, wecom):
    _associate(emulator)
    external_userid, added = _friend(emulator)
    _deliveries(emulator)

    sent = wecom.post(
        "externalcontact/send_welcome_msg", {"welcome_code": added["welcome_code"], "text": {"content": "欢迎！"}}
    )
    again = wecom.post(
        "externalcontact/send_welcome_msg", {"welcome_code": added["welcome_code"], "text": {"content": "欢迎！"}}
    )
    transcript = emulator.control("GET", "transcript", userid="zhangsan", external_userid=external_userid)

    assert sent["errcode"] == 0
    assert again["errcode"] == 41051
    assert [(m["kind"], m["body"]) for m in transcript["messages"]] == [("welcome", {"content": "欢迎！"})]


def test_a_welcome_code_expires_20_seconds_after_its_callback(emulator, wecom):
    _associate(emulator)
    external_userid, added = _friend(emulator)
    _deliveries(emulator)

    emulator.control("POST", "clock", {"advance_seconds": L.WELCOME_CODE_TTL_SECONDS + 1})
    late = wecom.post(
        "externalcontact/send_welcome_msg", {"welcome_code": added["welcome_code"], "text": {"content": "欢迎"}}
    )

    assert late["errcode"] == 41051
    assert emulator.control("GET", "transcript", userid="zhangsan", external_userid=external_userid)["messages"] == []


def test_a_welcome_code_is_void_once_the_chat_has_started(emulator, wecom):
    _associate(emulator)
    external_userid, added = _friend(emulator)
    emulator.control(
        "POST",
        "transcript",
        {"userid": "zhangsan", "external_userid": external_userid, "sender": external_userid, "text": "在吗"},
    )

    answer = wecom.post(
        "externalcontact/send_welcome_msg", {"welcome_code": added["welcome_code"], "text": {"content": "欢迎"}}
    )

    assert answer["errcode"] == 41051


# Mass messages -----------------------------------------------------------------------------------------


def test_a_mass_message_stays_unsent_until_confirmed_then_resolves_per_customer(emulator, wecom):
    _associate(emulator)
    friend, _ = _friend(emulator)
    gone, _ = _friend(emulator, name="王五")
    stranger = emulator.control("POST", "customers", {"name": "赵六"})["external_userid"]

    created = wecom.post(
        "externalcontact/add_msg_template",
        {
            "chat_type": "single",
            "sender": "zhangsan",
            "external_userid": [friend, gone, stranger],
            "text": {"content": "新品到店"},
        },
    )
    before = wecom.post("externalcontact/get_groupmsg_task", {"msgid": created["msgid"]})
    emulator.control("POST", "contacts/delete", {"userid": "zhangsan", "external_userid": gone, "by": "customer"})
    emulator.control("POST", "mass_messages/confirm", {"msgid": created["msgid"], "userid": "zhangsan"})
    after = wecom.post("externalcontact/get_groupmsg_task", {"msgid": created["msgid"]})
    results = wecom.post("externalcontact/get_groupmsg_send_result", {"msgid": created["msgid"], "userid": "zhangsan"})

    assert created["errcode"] == 0 and created["fail_list"] == [stranger]
    assert before["task_list"] == [{"userid": "zhangsan", "status": 0}]
    assert after["task_list"][0]["status"] == 2 and after["task_list"][0]["send_time"] > 0
    statuses = {r["external_userid"]: r["status"] for r in results["send_list"]}
    assert statuses == {friend: 1, gone: 2}
    transcript = emulator.control("GET", "transcript", userid="zhangsan", external_userid=friend)["messages"]
    assert [(m["kind"], m["body"]["content"]) for m in transcript] == [("mass", "新品到店")]


def test_the_monthly_receive_cap_gives_status_3(emulator, wecom):
    _associate(emulator)
    friend, _ = _friend(emulator)
    emulator.control("POST", "faults", {"monthly_cap": 1})
    msgids = [
        wecom.post(
            "externalcontact/add_msg_template",
            {"sender": "zhangsan", "external_userid": [friend], "text": {"content": f"第{n}条"}},
        )["msgid"]
        for n in (1, 2)
    ]

    for msgid in msgids:
        emulator.control("POST", "mass_messages/confirm", {"msgid": msgid, "userid": "zhangsan"})

    statuses = [
        wecom.post("externalcontact/get_groupmsg_send_result", {"msgid": m, "userid": "zhangsan"})["send_list"][0][
            "status"
        ]
        for m in msgids
    ]
    assert statuses == [1, 3]
    assert len(emulator.control("GET", "transcript", userid="zhangsan", external_userid=friend)["messages"]) == 1


def test_mass_message_limits_and_listing(emulator, wecom):
    _associate(emulator)
    friend, _ = _friend(emulator)
    too_long = wecom.post(
        "externalcontact/add_msg_template",
        {"sender": "zhangsan", "external_userid": [friend], "text": {"content": "好" * 1334}},
    )
    too_many = wecom.post(
        "externalcontact/add_msg_template",
        {
            "sender": "zhangsan",
            "external_userid": [friend],
            "attachments": [{"msgtype": "link", "link": {"title": "t", "url": "https://example.com"}}] * 10,
        },
    )
    created = wecom.post("externalcontact/add_msg_template", {"sender": "zhangsan", "text": {"content": "hi"}})
    now = int(emulator.control("GET", "state")["now"])
    listed = wecom.post(
        "externalcontact/get_groupmsg_list_v2", {"chat_type": "single", "start_time": now - 60, "end_time": now + 60}
    )

    assert too_long["errcode"] == 40058
    assert too_many["errcode"] == 40058
    assert [m["msgid"] for m in listed["group_msg_list"]] == [created["msgid"]]
    assert wecom.post("externalcontact/cancel_groupmsg_send", {"msgid": created["msgid"]})["errcode"] == 0
    refused = requests.post(
        f"{emulator.url}/control/mass_messages/confirm",
        json={"msgid": created["msgid"], "userid": "zhangsan"},
        timeout=10,
    )
    assert refused.status_code == 409


# Callbacks ---------------------------------------------------------------------------------------------


def test_a_callback_decrypts_to_wecoms_fields(emulator, receiver):
    _associate(emulator)
    external_userid, added = _friend(emulator)

    delivery = _deliveries(emulator)[0]
    event = receiver.events()[0]

    assert delivery["status"] == "delivered" and len(delivery["attempts"]) == 1
    assert event["ToUserName"] == CORP_ID
    assert event["FromUserName"] == "sys"
    assert event["MsgType"] == "event"
    assert event["Event"] == "change_external_contact"
    assert event["ChangeType"] == "add_external_contact"
    assert event["UserID"] == "zhangsan"
    assert event["ExternalUserID"] == external_userid
    assert event["WelcomeCode"] == added["welcome_code"]
    assert int(event["CreateTime"]) > 0
    assert b"<AgentID><![CDATA[1000002]]></AgentID>" in receiver.requests[0]["body"]


def test_a_callback_is_retried_when_omni_is_slow_or_fails_and_every_attempt_is_logged(emulator, receiver):
    _associate(emulator)
    receiver.script = [("slow", 1.0), 500]

    _friend(emulator)
    delivery = _deliveries(emulator)[0]

    assert delivery["status"] == "delivered"
    assert [a["http_status"] for a in delivery["attempts"]] == [None, 500, 200]
    assert "Timeout" in delivery["attempts"][0]["error"]
    assert len(receiver.requests) == 3
    assert len({r["body"] for r in receiver.requests}) == 1


def test_a_callback_gives_up_after_three_retries(emulator, receiver):
    _associate(emulator)
    receiver.script = [500, 500, 500, 500, 500]

    _friend(emulator)
    delivery = _deliveries(emulator)[0]

    assert delivery["status"] == "failed"
    assert len(delivery["attempts"]) == 1 + L.CALLBACK_RETRIES
    assert len(receiver.requests) == 4


def test_duplicate_mode_delivers_the_same_event_twice_and_off_mode_none(emulator, receiver):
    _associate(emulator)
    emulator.control("POST", "faults", {"callbacks": "duplicate"})
    _friend(emulator)
    _deliveries(emulator)
    emulator.control("POST", "faults", {"callbacks": "off"})
    _friend(emulator, name="王五")

    deliveries = _deliveries(emulator)
    events = receiver.events()

    assert len(events) == 2 and events[0] == events[1]
    assert deliveries[1]["duplicate_of"] == deliveries[0]["id"]
    assert deliveries[2]["status"] == "skipped"


def test_deleting_either_side_fires_the_matching_callback(emulator, receiver):
    _associate(emulator)
    first, _ = _friend(emulator)
    second, _ = _friend(emulator, name="王五")

    emulator.control("POST", "contacts/delete", {"userid": "zhangsan", "external_userid": first, "by": "associate"})
    emulator.control("POST", "contacts/delete", {"userid": "zhangsan", "external_userid": second, "by": "customer"})
    _deliveries(emulator)

    assert [e["ChangeType"] for e in receiver.events()[2:]] == ["del_external_contact", "del_follow_user"]


def test_the_callback_url_check_sends_an_echostr(emulator, receiver):
    result = emulator.control("POST", "callbacks/verify")

    assert result["ok"] is False  # the test receiver does not echo; Omni's view must


# Customer groups ---------------------------------------------------------------------------------------


def test_joining_by_the_join_way_qr_fires_add_member_with_scene_3_and_the_state(emulator, wecom, receiver):
    _associate(emulator)
    customer = emulator.control("POST", "customers", {"name": "钱七", "unionid": "oUnion123"})["external_userid"]
    chat = emulator.control("POST", "groups", {"owner": "zhangsan", "name": "南京西路福利群"})["group_chat"]
    way = wecom.post(
        "externalcontact/groupchat/add_join_way",
        {"scene": 2, "chat_id_list": [chat["chat_id"]], "state": "poster_0301", "room_base_name": "福利群"},
    )
    join_way = wecom.post("externalcontact/groupchat/get_join_way", {"config_id": way["config_id"]})["join_way"]

    emulator.control("POST", "groups/join", {"config_id": way["config_id"], "member": customer})
    _deliveries(emulator)
    detail = wecom.post("externalcontact/groupchat/get", {"chat_id": chat["chat_id"], "need_name": 1})["group_chat"]
    events = receiver.events()
    png = requests.get(join_way["qr_code"], timeout=10)

    assert [e["ChangeType"] for e in events] == ["create", "update"]
    update = events[1]
    assert update["Event"] == "change_external_chat"
    assert update["ChatId"] == chat["chat_id"]
    assert update["UpdateDetail"] == "add_member"
    assert update["JoinScene"] == "3"
    assert update["MemChangeCnt"] == "1"
    assert update["MemChangeList"] == {"Item": customer}
    assert update["LastMemVer"] != update["CurMemVer"] == detail["member_version"]
    joined = detail["member_list"][1]
    assert (joined["userid"], joined["type"], joined["join_scene"], joined["state"]) == (customer, 2, 3, "poster_0301")
    assert joined["unionid"] == "oUnion123" and joined["name"] == "钱七"
    assert Image.open(io.BytesIO(png.content)).format == "PNG"


def test_join_way_limits(emulator, wecom):
    _associate(emulator)
    chats = [
        emulator.control("POST", "groups", {"owner": "zhangsan", "name": f"群{i}"})["group_chat"]["chat_id"]
        for i in range(6)
    ]

    six = wecom.post(
        "externalcontact/groupchat/add_join_way", {"scene": 2, "chat_id_list": chats, "room_base_name": "群"}
    )
    unknown = wecom.post(
        "externalcontact/groupchat/add_join_way", {"scene": 2, "chat_id_list": ["wrnope"], "room_base_name": "群"}
    )

    assert six["errcode"] == 40058
    assert unknown["errcode"] == 40050


def test_groupchat_list_filters_by_owner_and_pages(emulator, wecom):
    _associate(emulator)
    _associate(emulator, userid="lisi", name="李斯")
    for owner in ("zhangsan", "zhangsan", "lisi"):
        emulator.control("POST", "groups", {"owner": owner, "name": "群"})

    first = wecom.post("externalcontact/groupchat/list", {"owner_filter": {"userid_list": ["zhangsan"]}, "limit": 1})
    second = wecom.post(
        "externalcontact/groupchat/list",
        {"owner_filter": {"userid_list": ["zhangsan"]}, "limit": 1, "cursor": first["next_cursor"]},
    )

    assert len(first["group_chat_list"]) == 1 and first["next_cursor"]
    assert len(second["group_chat_list"]) == 1 and "next_cursor" not in second
    assert wecom.post("externalcontact/groupchat/list", {"limit": 1001})["errcode"] == 40058


# Transfers -----------------------------------------------------------------------------------------------


def test_a_refused_transfer_fires_transfer_fail_and_keeps_the_customer(emulator, wecom, receiver):
    _associate(emulator)
    _associate(emulator, userid="lisi", name="李斯")
    friend, _ = _friend(emulator)
    stranger = "wm" + "c" * 30
    pair = {"handover_userid": "zhangsan", "takeover_userid": "lisi"}

    started = wecom.post("externalcontact/transfer_customer", {**pair, "external_userid": [friend, stranger]})
    waiting = wecom.post("externalcontact/transfer_result", pair)
    emulator.control(
        "POST", "transfers/resolve", {"handover_userid": "zhangsan", "external_userid": friend, "outcome": "refused"}
    )
    _deliveries(emulator)
    refused = wecom.post("externalcontact/transfer_result", pair)

    assert started["customer"] == [
        {"external_userid": friend, "errcode": 0},
        {"external_userid": stranger, "errcode": 84061},
    ]
    assert [c["status"] for c in waiting["customer"]] == [2]
    assert [c["status"] for c in refused["customer"]] == [3]
    event = receiver.events()[-1]
    assert (event["ChangeType"], event["FailReason"], event["UserID"], event["ExternalUserID"]) == (
        "transfer_fail",
        "customer_refused",
        "lisi",
        friend,
    )
    assert [f["userid"] for f in wecom.get("externalcontact/get", external_userid=friend)["follow_user"]] == [
        "zhangsan"
    ]


def test_a_successful_transfer_moves_the_customer_with_delete_by_transfer(emulator, wecom, receiver):
    _associate(emulator)
    _associate(emulator, userid="lisi", name="李斯")
    friend, _ = _friend(emulator)
    emulator.control("POST", "faults", {"transfer_outcome": "success"})

    wecom.post(
        "externalcontact/transfer_customer",
        {"handover_userid": "zhangsan", "takeover_userid": "lisi", "external_userid": [friend]},
    )
    _deliveries(emulator)

    removed, added = receiver.events()[-2:]
    assert (removed["ChangeType"], removed["UserID"], removed["Source"]) == (
        "del_external_contact",
        "zhangsan",
        "DELETE_BY_TRANSFER",
    )
    assert (added["ChangeType"], added["UserID"]) == ("add_external_contact", "lisi")
    assert [f["userid"] for f in wecom.get("externalcontact/get", external_userid=friend)["follow_user"]] == ["lisi"]


# Media -------------------------------------------------------------------------------------------------


def test_media_upload_takes_png_refuses_non_images_and_media_expire_after_three_days(emulator, wecom):
    _associate(emulator)
    url = f"{wecom.base}media/upload"
    params = {"access_token": wecom._token(), "type": "image"}

    image = requests.post(url, params=params, files={"media": ("a.png", PNG_1PX, "image/png")}, timeout=10).json()
    text = requests.post(
        url, params=params, files={"media": ("a.png", b"not an image at all", "image/png")}, timeout=10
    ).json()
    attachment = [{"msgtype": "image", "image": {"media_id": image["media_id"]}}]
    fresh = wecom.post("externalcontact/add_msg_template", {"sender": "zhangsan", "attachments": attachment})
    emulator.control("POST", "clock", {"advance_seconds": L.MEDIA_TTL_SECONDS + 1})
    wecom.token = ""
    stale = wecom.post("externalcontact/add_msg_template", {"sender": "zhangsan", "attachments": attachment})

    assert image["errcode"] == 0 and image["type"] == "image" and isinstance(image["created_at"], str)
    assert text["errcode"] == 40004
    assert fresh["errcode"] == 0
    assert stale["errcode"] == 40007


# OAuth -------------------------------------------------------------------------------------------------


def _authorize(emulator, **params):
    query = {
        "appid": CORP_ID,
        "redirect_uri": "http://127.0.0.1:8000/wecom/oauth/callback/?next=%2Fsidebar%2F",
        "response_type": "code",
        "scope": "snsapi_base",
        "state": "s7x",
        "agentid": AGENT_ID,
    }
    query.update(params)
    return requests.get(f"{emulator.url}/connect/oauth2/authorize", params=query, allow_redirects=False, timeout=10)


def test_oauth_code_is_exchanged_once_for_the_userid(emulator, wecom):
    _associate(emulator)

    response = _authorize(emulator, as_userid="zhangsan")
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    first = wecom.get("auth/getuserinfo", code=query["code"][0])
    second = wecom.get("auth/getuserinfo", code=query["code"][0])

    assert response.status_code == 302
    assert (location.hostname, location.port, location.path) == ("127.0.0.1", 8000, "/wecom/oauth/callback/")
    assert query["state"] == ["s7x"] and query["next"] == ["/sidebar/"]
    assert first == {"errcode": 0, "errmsg": "ok", "userid": "zhangsan"}
    assert second["errcode"] == 40029


def test_oauth_uses_the_associate_picked_in_the_ui_and_codes_expire(emulator, wecom):
    _associate(emulator)
    session = requests.Session()
    session.post(f"{emulator.url}/control/login", json={"userid": "zhangsan"}, timeout=10)

    response = session.get(
        f"{emulator.url}/connect/oauth2/authorize",
        params={
            "appid": CORP_ID,
            "redirect_uri": "http://127.0.0.1:8000/cb/",
            "response_type": "code",
            "scope": "snsapi_base",
        },
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    emulator.control("POST", "clock", {"advance_seconds": L.OAUTH_CODE_TTL_SECONDS + 1})
    wecom.token = ""

    assert wecom.get("auth/getuserinfo", code=code)["errcode"] == 40029


def test_oauth_with_a_wrong_appid_shows_an_error_page(emulator):
    _associate(emulator)

    response = _authorize(emulator, appid="wwsomeoneelse", as_userid="zhangsan")

    assert "Location" not in response.headers
    assert "appid" in response.text and "参数错误" in response.text


# JS-SDK --------------------------------------------------------------------------------------------------


def test_agent_config_signature_is_checked_against_the_issued_ticket(emulator, wecom):
    ticket = wecom.get("ticket/get", type="agent_config")["ticket"]
    url = "http://127.0.0.1:8000/sidebar/?a=1"
    signature = jssdk_signature(ticket=ticket, noncestr="n0nce", timestamp="1700000000", url=url)
    body = {
        "api": "agentConfig",
        "corpid": CORP_ID,
        "agentid": AGENT_ID,
        "timestamp": "1700000000",
        "nonceStr": "n0nce",
    }

    good = requests.post(
        f"{emulator.url}/jssdk/verify", data=json.dumps({**body, "signature": signature, "url": url + "#x"}), timeout=10
    )
    bad = requests.post(f"{emulator.url}/jssdk/verify", json={**body, "signature": "0" * 40, "url": url}, timeout=10)

    assert good.json()["ok"] is True and good.json()["errMsg"] == "agentConfig:ok"
    assert good.headers["Access-Control-Allow-Origin"] == "*"
    assert bad.json() == {"ok": False, "errMsg": "agentConfig:fail invalid signature"}


def _jssdk_session(emulator, wecom, *, js_api_list: list[str]) -> str:
    ticket = wecom.get("ticket/get", type="agent_config")["ticket"]
    url = "http://127.0.0.1:8000/sidebar/"
    body = {"api": "agentConfig", "corpid": CORP_ID, "agentid": AGENT_ID, "timestamp": "1700000000"}
    body |= {"nonceStr": "n0nce", "url": url, "jsApiList": js_api_list}
    body["signature"] = jssdk_signature(ticket=ticket, noncestr="n0nce", timestamp="1700000000", url=url)
    return requests.post(f"{emulator.url}/jssdk/verify", json=body, timeout=10).json()["session"]


def _scan(emulator, session: str, **read) -> dict:
    body = {"session": session, "needResult": 1, "scanType": ["qrCode", "barCode"], **read}
    return requests.post(f"{emulator.url}/jssdk/scan_qrcode", json=body, timeout=10).json()


def test_scan_qrcode_answers_a_barcode_as_format_and_digits_and_a_qr_code_as_its_text(emulator, wecom):
    session = _jssdk_session(emulator, wecom, js_api_list=["getContext", "scanQRCode"])

    assert _scan(emulator, session, kind="barCode", text="6901234567890") == {
        "errMsg": "scanQRCode:ok",
        "resultStr": "EAN_13,6901234567890",
    }
    assert _scan(emulator, session, kind="barCode", text="96385074")["resultStr"] == "EAN_8,96385074"
    assert _scan(emulator, session, kind="qrCode", text="https://a.example/p/1")["resultStr"] == "https://a.example/p/1"
    # needResult=0: WeCom handles the result itself and gives the page nothing
    assert _scan(emulator, session, kind="barCode", text="6901234567890", needResult=0) == {"errMsg": "scanQRCode:ok"}


def test_scan_qrcode_needs_it_in_the_js_api_list_and_a_scan_type_that_was_asked_for(emulator, wecom):
    without = _jssdk_session(emulator, wecom, js_api_list=["getContext", "sendChatMessage"])
    session = _jssdk_session(emulator, wecom, js_api_list=["scanQRCode"])

    assert _scan(emulator, without, kind="barCode", text="6901234567890") == {"errMsg": "scanQRCode:permission denied"}
    assert _scan(emulator, "forged", kind="barCode", text="6901234567890") == {"errMsg": "scanQRCode:permission denied"}
    only_qr = _scan(emulator, session, kind="barCode", text="6901234567890", scanType=["qrCode"])
    assert only_qr == {"errMsg": "scanQRCode:fail no code recognised"}
    assert _scan(emulator, session, kind="barCode", text="", scanType=["barCode"]) == {
        "errMsg": "scanQRCode:fail no code recognised"
    }
    assert _scan(emulator, session, kind="qrCode", text="x", scanType=["faceId"]) == {
        "errMsg": "scanQRCode:fail invalid scanType"
    }


# Persistence and the command -----------------------------------------------------------------------------


def test_state_survives_a_restart(tmp_path, receiver):
    path = tmp_path / "emulator.json"
    first = start_emulator(_config(receiver.url, state_path=path))
    _associate(first)
    token = WeCom(first).gettoken()["access_token"]
    first.stop()

    second = start_emulator(_config(receiver.url, state_path=path))
    try:
        wecom = WeCom(second)
        assert second.control("GET", "associates")["associates"][0]["userid"] == "zhangsan"
        assert wecom.get("externalcontact/get_follow_user_list", access_token=token)["follow_user"] == ["zhangsan"]
    finally:
        second.stop()


def test_the_command_refuses_without_the_wecom_settings(settings):
    settings.WECOM_CORP_ID = ""
    settings.WECOM_TOKEN = ""

    with pytest.raises(CommandError) as error:
        call_command("wecom_emulator", "--memory", "--port", "0")

    assert "WECOM_CORP_ID" in str(error.value) and "WECOM_TOKEN" in str(error.value)
