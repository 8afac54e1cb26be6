"""WeCom callback crypto and JS-SDK signing against the official vectors (tests/data/wecom_vectors.json)."""

import json
import time
from pathlib import Path

import pytest

from wecom.crypto import CallbackCrypto, CallbackError, xml_parse
from wecom.jssdk import jssdk_signature

# The official vectors of WeCom doc 90968 (加解密方案说明, 举例说明) and doc 96909 (JS-SDK 签名算法), as wechatpy's
# tests use them too; each set in the file names its source.
VECTORS = json.loads((Path(__file__).parent / "data" / "wecom_vectors.json").read_text())
SET_A = VECTORS["set_a"]


def _crypto(max_age=None):
    return CallbackCrypto(
        token=SET_A["token"], encoding_aes_key=SET_A["encoding_aes_key"], corp_id=SET_A["corpid"], max_age=max_age
    )


def _message_body(encrypt=None):
    encrypt = encrypt or SET_A["message"]["encrypt"]
    return (
        f"<xml><ToUserName><![CDATA[{SET_A['corpid']}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
    ).encode()


def test_url_verification_vector_decrypts_the_echostr():
    v = SET_A["verify_url"]

    plain = _crypto().verify_url(
        msg_signature=v["msg_signature"], timestamp=v["timestamp"], nonce=v["nonce"], echostr=v["echostr"]
    )

    assert plain == v["plaintext"]


def test_message_vector_decrypts_to_the_text_message():
    m = SET_A["message"]

    event = _crypto().decrypt_message(
        body=_message_body(), msg_signature=m["msg_signature"], timestamp=m["timestamp"], nonce=m["nonce"]
    )

    assert event["Content"] == "hello"
    assert event["MsgId"] == "4561255354251345929"
    assert event["AgentID"] == "218"


def test_a_tampered_signature_is_refused():
    m = SET_A["message"]
    tampered = ("0" if m["msg_signature"][0] != "0" else "1") + m["msg_signature"][1:]

    with pytest.raises(CallbackError) as error:
        _crypto().decrypt_message(
            body=_message_body(), msg_signature=tampered, timestamp=m["timestamp"], nonce=m["nonce"]
        )

    assert error.value.code == "invalid_signature"


def test_the_official_vector_is_stale_under_the_default_five_minute_window():
    m = SET_A["message"]

    with pytest.raises(CallbackError) as error:
        _crypto(max_age=300).decrypt_message(
            body=_message_body(), msg_signature=m["msg_signature"], timestamp=m["timestamp"], nonce=m["nonce"]
        )

    assert error.value.code == "stale_timestamp"


def test_a_payload_for_another_corp_is_undecryptable():
    other = CallbackCrypto(token=SET_A["token"], encoding_aes_key=SET_A["encoding_aes_key"], corp_id="wwOTHER")
    encrypt, signature = other.encrypt("<xml><Event>x</Event></xml>", nonce="n", timestamp="1409659813")

    with pytest.raises(CallbackError) as error:
        _crypto().decrypt_message(
            body=_message_body(encrypt), msg_signature=signature, timestamp="1409659813", nonce="n"
        )

    assert error.value.code == "undecryptable"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"<xml><Encrypt>",
        b"<xml><NoEncrypt/></xml>",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
        b"<xml><Encrypt>&lol2;</Encrypt></xml>",
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>',
    ],
)
def test_garbage_and_hostile_xml_are_refused_before_any_crypto(body):
    with pytest.raises(CallbackError) as error:
        _crypto().decrypt_message(body=body, msg_signature="x", timestamp="1", nonce="n")

    assert error.value.code == "malformed_xml"


def test_what_the_emulator_encrypts_decrypts_with_a_fresh_timestamp():
    crypto = _crypto(max_age=300)
    now = str(int(time.time()))
    plain = "<xml><Event><![CDATA[change_external_contact]]></Event><ChangeType>add_external_contact</ChangeType></xml>"
    body, signature = crypto.encrypt_message(plain, nonce="abc", timestamp=now)

    event = crypto.decrypt_message(body=body, msg_signature=signature, timestamp=now, nonce="abc")

    assert event == {"Event": "change_external_contact", "ChangeType": "add_external_contact"}


def test_nested_xml_becomes_lists_and_dicts():
    parsed = xml_parse("<xml><MemChangeList><Item>a</Item><Item>b</Item></MemChangeList><ChatId>c1</ChatId></xml>")

    assert parsed == {"MemChangeList": {"Item": ["a", "b"]}, "ChatId": "c1"}


def test_jssdk_signature_vector():
    v = VECTORS["jssdk_signature"]

    assert (
        jssdk_signature(ticket=v["jsapi_ticket"], noncestr=v["noncestr"], timestamp=v["timestamp"], url=v["url"])
        == v["signature"]
    )
    assert (
        jssdk_signature(
            ticket=v["jsapi_ticket"], noncestr=v["noncestr"], timestamp=v["timestamp"], url=v["url"] + "#frag"
        )
        == v["signature"]
    )
