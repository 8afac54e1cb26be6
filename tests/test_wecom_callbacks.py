"""The /wecom/callback/ endpoint: official vectors, bad input refused with nothing stored, events stored once."""

import datetime as dt
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import kombu.exceptions
import pytest
from django.utils import timezone

from omni.celery import app
from wecom.crypto import CallbackCrypto
from wecom.models import CallbackEvent
from wecom.services import NOT_QUEUED
from wecom.tasks import callback_event_process_task, callback_events_requeue_task

# The official vectors of WeCom doc 90968 (加解密方案说明, 举例说明) and doc 96909 (JS-SDK 签名算法), as wechatpy's
# tests use them too; each set in the file names its source.
VECTORS = json.loads((Path(__file__).parent / "data" / "wecom_vectors.json").read_text())
SET_A = VECTORS["set_a"]


@pytest.fixture
def wecom(settings):
    settings.WECOM_TOKEN = SET_A["token"]
    settings.WECOM_ENCODING_AES_KEY = SET_A["encoding_aes_key"]
    settings.WECOM_CORP_ID = SET_A["corpid"]
    settings.WECOM_CALLBACK_MAX_AGE = 300
    return CallbackCrypto(token=SET_A["token"], encoding_aes_key=SET_A["encoding_aes_key"], corp_id=SET_A["corpid"])


def _event_xml(**fields):
    base = {
        "ToUserName": SET_A["corpid"],
        "FromUserName": "sys",
        "CreateTime": str(int(time.time())),
        "MsgType": "event",
        "Event": "change_external_tag",
        # A delete: its handler (clientbook.handlers.corp_tag_event) needs no WeCom call.
        "ChangeType": "delete",
        "Id": "etAAA",
        "TagType": "tag",
    }
    base.update(fields)
    return "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in base.items()) + "</xml>"


def _post(client, crypto, plaintext, *, timestamp=None, signature=None):
    timestamp = timestamp or str(int(time.time()))
    body, good_signature = crypto.encrypt_message(plaintext, nonce="n1", timestamp=timestamp)
    query = urlencode({"msg_signature": signature or good_signature, "timestamp": timestamp, "nonce": "n1"})
    return client.post(f"/wecom/callback/?{query}", body, content_type="text/xml")


@pytest.mark.django_db
def test_url_verification_with_the_official_vector(client, wecom, settings):
    settings.WECOM_CALLBACK_MAX_AGE = None  # the vector is from 2014
    v = SET_A["verify_url"]

    response = client.get("/wecom/callback/", {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")})

    assert response.status_code == 200
    assert response.content.decode() == v["plaintext"]


@pytest.mark.django_db
def test_the_official_message_vector_is_accepted_and_as_a_non_event_stores_nothing(client, wecom, settings):
    settings.WECOM_CALLBACK_MAX_AGE = None
    m = SET_A["message"]
    body = (
        f"<xml><ToUserName><![CDATA[{SET_A['corpid']}]]></ToUserName>"
        f"<Encrypt><![CDATA[{m['encrypt']}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
    )

    response = client.post(
        f"/wecom/callback/?{urlencode({k: m[k] for k in ('msg_signature', 'timestamp', 'nonce')})}",
        body,
        content_type="text/xml",
    )

    assert response.status_code == 200
    assert CallbackEvent.objects.count() == 0


@pytest.mark.django_db
def test_the_official_vector_is_stale_with_the_default_window(client, wecom):
    v = SET_A["verify_url"]

    response = client.get("/wecom/callback/", {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")})

    assert response.status_code == 403
    assert response.content == b"stale_timestamp"


@pytest.mark.django_db
def test_a_tampered_signature_is_403_and_stores_nothing(client, wecom):
    response = _post(client, wecom, _event_xml(), signature="0" * 40)

    assert response.status_code == 403
    assert response.content == b"invalid_signature"
    assert CallbackEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_stale_timestamp_is_403_and_stores_nothing(client, wecom):
    response = _post(client, wecom, _event_xml(), timestamp=str(int(time.time()) - 3600))

    assert response.status_code == 403
    assert CallbackEvent.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\xff garbage",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><xml><Encrypt>&lol3;</Encrypt></xml>',
        b"<xml><Encrypt><![CDATA[bm90IGFlcw==]]></Encrypt></xml>",
    ],
)
def test_garbage_hostile_and_undecryptable_bodies_are_4xx_and_store_nothing(client, wecom, body):
    timestamp = str(int(time.time()))
    encrypt = "bm90IGFlcw=="
    query = urlencode({"msg_signature": wecom.signature(timestamp, "n", encrypt), "timestamp": timestamp, "nonce": "n"})

    response = client.post(f"/wecom/callback/?{query}", body, content_type="text/xml")

    assert 400 <= response.status_code < 500
    assert CallbackEvent.objects.count() == 0


@pytest.mark.django_db
def test_an_unknown_event_is_answered_and_ignored(client, wecom):
    response = _post(client, wecom, _event_xml(Event="something_new", ChangeType="x"))

    assert response.status_code == 200
    assert CallbackEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_redelivered_event_is_stored_and_processed_once(client, wecom, django_capture_on_commit_callbacks):
    plaintext = _event_xml()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = _post(client, wecom, plaintext)
        second = _post(client, wecom, plaintext)

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.content == b"success"
    event = CallbackEvent.objects.get()
    assert len(callbacks) == 1
    assert (event.event, event.change_type, event.status, event.attempts) == (
        "change_external_tag",
        "delete",
        CallbackEvent.Status.DONE,
        1,
    )


@pytest.mark.django_db
def test_a_stored_event_has_its_received_time_like_any_orm_row(client, wecom):
    before = timezone.now()

    _post(client, wecom, _event_xml())

    event = CallbackEvent.objects.get()
    assert before <= event.received_at <= timezone.now()
    assert CallbackEvent.objects.filter(received_at=event.received_at).count() == 1


@pytest.mark.django_db
def test_a_broker_that_cannot_take_the_task_loses_no_event(
    client, wecom, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(callback_event_process_task, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, wecom, _event_xml())
        recent = _post(client, wecom, _event_xml(Id="etBBB"))

    assert (response.status_code, response.content, recent.status_code) == (200, b"success", 200)
    assert set(CallbackEvent.objects.values_list("status", "error")) == {(CallbackEvent.Status.PENDING, NOT_QUEUED)}
    monkeypatch.undo()  # the broker is back

    # Both are known not to be queued: the next run sends them, however recent.
    assert callback_events_requeue_task.delay().get() == 2

    assert set(CallbackEvent.objects.values_list("payload__Id", "status", "error")) == {
        ("etAAA", CallbackEvent.Status.DONE, ""),
        ("etBBB", CallbackEvent.Status.DONE, ""),
    }
    assert callback_events_requeue_task.delay().get() == 0
    assert "wecom-callbacks-requeue" in app.conf.beat_schedule


@pytest.mark.django_db
def test_an_event_queued_but_still_pending_is_queued_again_after_the_requeue_window(
    client, wecom, monkeypatch, settings, django_capture_on_commit_callbacks
):
    # Queued fine, but its task never ran (a web process that died after storing it, a task that gave up).
    monkeypatch.setattr(callback_event_process_task, "delay", lambda *args, **kwargs: None)
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, wecom, _event_xml())
        _post(client, wecom, _event_xml(Id="etBBB"))
    monkeypatch.undo()
    settings.WECOM_CALLBACK_REQUEUE_AFTER = 600
    stuck = CallbackEvent.objects.get(payload__Id="etAAA")
    CallbackEvent.objects.filter(pk=stuck.pk).update(received_at=timezone.now() - dt.timedelta(seconds=601))

    assert callback_events_requeue_task.delay().get() == 1  # the fresh one may still be in the queue: left alone

    assert dict(CallbackEvent.objects.values_list("payload__Id", "status")) == {
        "etAAA": CallbackEvent.Status.DONE,
        "etBBB": CallbackEvent.Status.PENDING,
    }
