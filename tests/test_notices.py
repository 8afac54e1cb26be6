"""Notices to associates through WeCom app messages, against the emulator over HTTP: the emulator's message/send
(limits and error codes), then `notice_send`'s rules — dedupe, quiet hours (deferred, not dropped), the daily cap
(folded into the next digest, not lost), delivery retried with backoff when WeCom answers an error — and the client
book's triggers (a customer added / deleted me, the morning digest)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
import time_machine

from clientbook.handlers import follow_added, follow_deleted_by_customer
from clientbook.models import FollowRelation, FollowUpTask
from clientbook.notifying import notices_digest_all, notices_tasks_due_all
from notices.models import Notice, NoticePreference
from notices.notify import notice_send
from notices.services import notice_deliver, notice_preference_update
from notices.tasks import notices_due_send_task
from tests.factories import AssociateFactory, CustomerFactory, StoreFactory
from tests.live_emulator import live_emulator
from wecom.client import WeComError, wecom_client
from wecom.jssdk import jssdk_signature

CONFIG = {
    "corp_id": "wwnoticecorp000001",
    "agent_id": "1000002",
    "secret": "notice-secret",
    "token": "NoticeToken",
    "encoding_aes_key": "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE",
}
SHANGHAI = ZoneInfo("Asia/Shanghai")
EXTERNAL = "wmNoticeCustomer0000000000000001"


@pytest.fixture
def emulator(settings, db):
    with live_emulator(settings, "http://127.0.0.1:9", callbacks=False, **CONFIG) as running:
        settings.WECOM_MAX_RETRIES = 0
        running.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
        yield running


@pytest.fixture
def associate(db):
    return AssociateFactory(store=StoreFactory(code="SH01", name="上海静安店"), wecom_userid="linyu", name="林雨")


def _inbox(emulator, userid="linyu") -> list[dict]:
    return emulator.control("GET", f"app_messages?userid={userid}")["app_messages"]


def _card(**overrides) -> dict:
    card = {"title": "新客户添加了你", "description": "陈静 刚刚添加你为好友", "url": "http://127.0.0.1:9/x/"}
    return {"touser": "linyu", "msgtype": "textcard", "agentid": "1000002", "textcard": {**card, **overrides}}


# The emulator's message/send ---------------------------------------------------------------------------------


def test_message_send_delivers_to_members_and_names_the_invalid_ones(emulator):
    emulator.control("POST", "associates", {"userid": "wangfang", "name": "王芳", "store": "上海静安店"})

    answer = wecom_client().post("message/send", data={**_card(), "touser": "linyu|wangfang|nobody"})

    assert answer["errcode"] == 0
    assert answer["invaliduser"] == "nobody"
    assert [m["title"] for m in _inbox(emulator)] == ["新客户添加了你"]
    assert [m["title"] for m in _inbox(emulator, "wangfang")] == ["新客户添加了你"]


def test_message_send_refuses_what_wecom_refuses_and_delivers_nothing(emulator):
    client = wecom_client()
    cases = [
        ({**_card(), "touser": "nobody|ghost"}, 81013),
        ({**_card(), "agentid": "999"}, 40056),
        (_card(title="长" * 43), 40058),  # 129 bytes
        (_card(description="长" * 171), 40058),
        (_card(url="ftp://example.com/"), 40058),
        ({**_card(), "msgtype": "text"}, 40005),
    ]
    for body, errcode in cases:
        with pytest.raises(WeComError) as caught:
            client.post("message/send", data=body)
        assert caught.value.errcode == errcode, body
    assert _inbox(emulator) == []


def test_message_send_takes_a_template_card_text_notice(emulator):
    card = {
        "card_type": "text_notice",
        "main_title": {"title": "今日任务 3 项", "desc": "林雨"},
        "sub_title_text": "陈静：周六到店试穿",
        "card_action": {"type": 1, "url": "http://127.0.0.1:9/workbench/tasks/"},
    }
    body = {"touser": "linyu", "msgtype": "template_card", "agentid": "1000002", "template_card": card}
    wecom_client().post("message/send", data=body)
    [message] = _inbox(emulator)
    assert (message["title"], message["url"]) == ("今日任务 3 项", "http://127.0.0.1:9/workbench/tasks/")


def test_a_member_receives_at_most_30_app_messages_a_minute(emulator):
    client = wecom_client()
    for n in range(30):
        client.post("message/send", data=_card(title=f"第{n}条"))
    with pytest.raises(WeComError) as caught:
        client.post("message/send", data=_card(title="第31条"))
    assert caught.value.errcode == 45009
    assert len(_inbox(emulator)) == 30


# notice_send ---------------------------------------------------------------------------------------------------


def _send(associate, key="k1", **fields):
    return notice_send(
        associate=associate,
        kind=Notice.Kind.NEW_CUSTOMER,
        dedupe_key=key,
        title=fields.pop("title", "新客户"),
        **fields,
    )


@pytest.mark.django_db
def test_a_notice_is_delivered_once_however_often_it_is_sent(emulator, associate, django_capture_on_commit_callbacks):
    with time_machine.travel(datetime(2026, 12, 7, 15, 0, tzinfo=SHANGHAI), tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            first = _send(associate, key="new_customer:1", description="陈静 添加了你", url="/workbench/customers/1/")
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            second = _send(associate, key="new_customer:1", title="又一次")
        notice_deliver(notice_id=first.pk)

    assert second.pk == first.pk and callbacks == []
    first.refresh_from_db()
    assert first.status == Notice.Status.SENT and first.attempts == 1 and first.msgid
    [message] = _inbox(emulator)
    assert message["title"] == "新客户"
    assert message["url"] == "http://127.0.0.1:9/workbench/customers/1/"


@pytest.mark.django_db
def test_a_notice_in_quiet_hours_waits_for_their_end_and_is_then_sent(emulator, associate):
    with time_machine.travel(datetime(2026, 12, 7, 23, 30, tzinfo=SHANGHAI), tick=True):
        notice = _send(associate)
        assert notices_due_send_task() == 0
    assert notice.status == Notice.Status.PENDING
    assert notice.send_after == datetime(2026, 12, 8, 8, 0, tzinfo=SHANGHAI)
    assert _inbox(emulator) == []

    with time_machine.travel(datetime(2026, 12, 8, 8, 0, 30, tzinfo=SHANGHAI), tick=True):
        assert notices_due_send_task() == 1
    notice.refresh_from_db()
    assert notice.status == Notice.Status.SENT
    assert len(_inbox(emulator)) == 1


@pytest.mark.django_db
def test_quiet_hours_are_the_associates_own(associate):
    notice_preference_update(associate=associate, quiet_start=time(12, 0), quiet_end=time(13, 30), daily_cap=20)
    with time_machine.travel(datetime(2026, 12, 7, 12, 10, tzinfo=SHANGHAI), tick=False):
        lunch = _send(associate, key="a")
    with time_machine.travel(datetime(2026, 12, 7, 23, 10, tzinfo=SHANGHAI), tick=False):
        night = _send(associate, key="b")
    assert lunch.send_after == datetime(2026, 12, 7, 13, 30, tzinfo=SHANGHAI)
    assert night.send_after == datetime(2026, 12, 7, 23, 10, tzinfo=SHANGHAI)


@pytest.mark.django_db
def test_beyond_the_daily_cap_notices_are_folded_into_the_next_digest(associate):
    notice_preference_update(associate=associate, quiet_start=time(0, 0), quiet_end=time(0, 0), daily_cap=2)
    sent = [_send(associate, key=f"n{n}", title=f"提醒{n}") for n in range(4)]
    assert [n.status for n in sent] == ["pending", "pending", "folded", "folded"]

    digest = notice_send(
        associate=associate, kind=Notice.Kind.DIGEST, dedupe_key="digest:1", title="今日任务 1 项", description="· 回访"
    )

    assert digest.status == Notice.Status.PENDING
    assert digest.description == "· 回访\n另有 2 条提醒：\n· 提醒2\n· 提醒3"
    assert set(Notice.objects.filter(folded_into=digest).values_list("title", flat=True)) == {"提醒2", "提醒3"}


@pytest.mark.django_db
def test_a_wecom_error_leaves_the_notice_pending_with_backoff_until_it_goes_through(emulator, associate):
    emulator.control("POST", "faults", {"rate_limit_rate": 1.0, "only_apis": ["message/send"]})
    with time_machine.travel(datetime(2026, 12, 7, 15, 0, tzinfo=SHANGHAI), tick=True):
        notice = _send(associate)
        assert notice_deliver(notice_id=notice.pk) == Notice.Status.PENDING
        notice.refresh_from_db()
        assert notice.attempts == 1 and "45009" in notice.last_error
        assert notice.send_after > datetime(2026, 12, 7, 15, 0, 29, tzinfo=SHANGHAI)
        assert notice_deliver(notice_id=notice.pk) == Notice.Status.PENDING  # not due again yet: nothing tried
        notice.refresh_from_db()
        assert notice.attempts == 1
    emulator.control("POST", "faults", {"rate_limit_rate": 0.0, "only_apis": []})
    with time_machine.travel(datetime(2026, 12, 7, 15, 1, tzinfo=SHANGHAI), tick=True):
        assert notices_due_send_task() == 1
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == (Notice.Status.SENT, 2)
    assert len(_inbox(emulator)) == 1


@pytest.mark.django_db
def test_an_error_no_retry_can_fix_marks_the_notice_failed(emulator, associate):
    emulator.control("POST", "associates/resign", {"userid": "linyu"})
    notice = _send(associate)
    with time_machine.travel(datetime(2026, 12, 7, 15, 0, tzinfo=SHANGHAI), tick=True):
        notice = _send(associate, key="k2")
        assert notice_deliver(notice_id=notice.pk) == Notice.Status.FAILED
    notice.refresh_from_db()
    assert "81013" in notice.last_error


@pytest.mark.django_db
def test_bad_preferences_are_refused_and_change_nothing(associate):
    from omni.errors import ApplicationError

    with pytest.raises(ApplicationError) as caught:
        notice_preference_update(associate=associate, quiet_start=time(22), quiet_end=time(8), daily_cap=0)
    assert caught.value.code == "invalid_daily_cap"
    assert not NoticePreference.objects.filter(associate=associate).exists()


# The client book's triggers --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_customer_adding_and_deleting_me_tells_me_once_each(emulator, associate, django_capture_on_commit_callbacks):
    emulator.control("POST", "customers", {"name": "陈静", "external_userid": EXTERNAL})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL, "userid": "linyu"})
    payload = {"UserID": "linyu", "ExternalUserID": EXTERNAL, "CreateTime": "1796000000"}
    with time_machine.travel(datetime(2026, 12, 7, 15, 0, tzinfo=SHANGHAI), tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            follow_added(payload)
            follow_added(payload)  # a re-processed event
        with django_capture_on_commit_callbacks(execute=True):
            follow_deleted_by_customer({**payload, "CreateTime": "1796000600"})

    follow = FollowRelation.objects.get(external_userid=EXTERNAL)
    added, left = Notice.objects.order_by("pk")
    assert (added.kind, added.title, added.status) == ("new_customer", "新客户添加了你：陈静", "sent")
    assert added.url.endswith(f"/workbench/customers/{follow.customer_id}/")
    assert (left.kind, left.title, left.status) == ("customer_left", "客户删除了你：陈静", "sent")
    assert [m["title"] for m in _inbox(emulator)] == ["客户删除了你：陈静", "新客户添加了你：陈静"]


@pytest.mark.django_db
def test_the_morning_digest_lists_todays_tasks_once_per_day(associate):
    other = AssociateFactory(store=associate.store)
    customer = CustomerFactory(name="陈静")
    today = date(2026, 12, 7)
    FollowUpTask.objects.create(associate=associate, customer=customer, title="周六到店试穿", due_on=today)
    FollowUpTask.objects.create(associate=associate, customer=customer, title="下周回访", due_on=today + timedelta(7))
    FollowUpTask.objects.create(
        associate=other, customer=customer, title="已完成", due_on=today, done_at=datetime.now(SHANGHAI)
    )

    with time_machine.travel(datetime(2026, 12, 7, 8, 45, tzinfo=SHANGHAI), tick=False):
        assert notices_digest_all() == 1
        assert notices_digest_all() == 1

    [digest] = Notice.objects.all()
    assert (digest.associate_id, digest.kind, digest.title) == (associate.pk, "digest", "今日任务 1 项")
    assert digest.description == "· 陈静：周六到店试穿"
    assert digest.url.endswith("/workbench/tasks/")


@pytest.mark.django_db
def test_the_afternoon_reminder_names_the_tasks_due_today_still_open_once(associate):
    customer = CustomerFactory(name="陈静")
    today = date(2026, 12, 7)
    journey = FollowUpTask.objects.create(
        associate=associate,
        customer=customer,
        title="12月07日是陈静的生日，送上祝福",
        due_on=today,
        occasion="birthday:2026",
    )
    FollowUpTask.objects.create(associate=associate, customer=customer, title="上周的回访", due_on=today - timedelta(3))
    FollowUpTask.objects.create(associate=associate, customer=customer, title="下周回访", due_on=today + timedelta(7))
    done = AssociateFactory(store=associate.store)
    FollowUpTask.objects.create(
        associate=done, customer=customer, title="已完成", due_on=today, done_at=datetime.now(SHANGHAI)
    )

    with time_machine.travel(datetime(2026, 12, 7, 16, 0, tzinfo=SHANGHAI), tick=False):
        assert notices_tasks_due_all() == 1
        assert notices_tasks_due_all() == 1  # a second run tells nothing new

    [due] = Notice.objects.all()
    assert (due.associate_id, due.kind, due.title) == (associate.pk, "task_due", "今天到期的任务还有 1 项")
    assert due.description == f"· 陈静：{journey.title}"
    assert due.url.endswith("/workbench/tasks/")

    FollowUpTask.objects.filter(pk=journey.pk).update(done_at=datetime.now(SHANGHAI))
    assert notices_tasks_due_all(on=today) == 0  # done: nothing left to remind of
    assert Notice.objects.count() == 1


# The emulator's JS-SDK: openEnterpriseChat / openUserProfile -------------------------------------------------------


def _agent_session(emulator, js_api_list: list[str]) -> str:
    url = "http://127.0.0.1:9/workbench/tasks/1/"
    ticket = wecom_client().agent_ticket()
    body = {"api": "agentConfig", "corpid": CONFIG["corp_id"], "agentid": CONFIG["agent_id"], "url": url}
    body |= {"timestamp": "1700000000", "nonceStr": "n0nce", "jsApiList": js_api_list}
    body["signature"] = jssdk_signature(ticket=ticket, noncestr="n0nce", timestamp="1700000000", url=url)
    return requests.post(f"{emulator.url}/jssdk/verify", json=body, timeout=10).json()["session"]


def test_open_enterprise_chat_needs_the_api_in_js_api_list_and_a_friend_of_the_member(emulator):
    emulator.control("POST", "customers", {"name": "陈静", "external_userid": EXTERNAL})
    emulator.control("POST", "contacts/add", {"external_userid": EXTERNAL, "userid": "linyu"})
    emulator.control("POST", "ui/open", {"userid": "linyu"})  # a page opened from an app message: no chat

    def open_chat(session, external_userid=EXTERNAL, api="openEnterpriseChat"):
        body = {"session": session, "api": api, "external_userid": external_userid}
        return requests.post(f"{emulator.url}/jssdk/open_chat", json=body, timeout=10).json()

    without = open_chat(_agent_session(emulator, ["sendChatMessage"]))
    allowed = _agent_session(emulator, ["openEnterpriseChat", "openUserProfile"])
    stranger = open_chat(allowed, external_userid="wmNoticeStranger0000000000000001")
    opened = open_chat(allowed, api="openUserProfile")

    assert without == {"err_msg": "openEnterpriseChat:fail no permission"}
    assert stranger == {"err_msg": "openEnterpriseChat:fail invalid external userid"}
    assert opened["err_msg"] == "openUserProfile:ok"
    assert opened["context"] == {
        "userid": "linyu",
        "entry": "single_chat_tools",
        "external_userid": EXTERNAL,
        "chat_id": "",
    }
