"""WeCom callback crypto (Doc 90968): signature, AES-256-CBC envelope, and safe XML.

wechatpy's PrpCrypto does the AES; the signature is checked here in constant time and the timestamp
must be fresh, which wechatpy's WeChatCrypto does not do. XML is parsed with defusedxml: no DTDs, no
entities, so a billion-laughs body is refused instead of expanded.
"""

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from wechatpy.work.crypto import PrpCrypto


class CallbackError(Exception):
    """A callback request that must be refused; `code` is stable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def xml_parse(text: str | bytes) -> dict:
    """Parse WeCom's flat XML into a dict; repeated or nested elements become lists / dicts."""
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise CallbackError("malformed_xml", f"The body is not acceptable XML: {exc.__class__.__name__}") from exc
    return _element_dict(root)


def _element_dict(element: Element) -> dict:
    data: dict = {}
    for child in element:
        value = _element_dict(child) if len(child) else (child.text or "")
        if child.tag in data:
            if not isinstance(data[child.tag], list):
                data[child.tag] = [data[child.tag]]
            data[child.tag].append(value)
        else:
            data[child.tag] = value
    return data


@dataclass(frozen=True)
class CallbackCrypto:
    token: str
    encoding_aes_key: str
    corp_id: str
    # Seconds a callback's timestamp may differ from now; None turns the check off (old test vectors).
    max_age: int | None = 300

    @property
    def key(self) -> bytes:
        key = base64.b64decode(self.encoding_aes_key + "=")
        if len(key) != 32:
            raise ValueError("WECOM_ENCODING_AES_KEY must be 43 characters of base64 (a 32-byte key).")
        return key

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return hashlib.sha1("".join(sorted([self.token, timestamp, nonce, encrypt])).encode()).hexdigest()

    def verify(self, *, msg_signature: str, timestamp: str, nonce: str, encrypt: str, now: float | None = None) -> None:
        expected = self.signature(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").encode()):
            raise CallbackError("invalid_signature", "The msg_signature does not match.")
        if self.max_age is not None:
            try:
                age = abs((time.time() if now is None else now) - int(timestamp))
            except ValueError as exc:
                raise CallbackError("invalid_timestamp", "The timestamp is not a number.") from exc
            if age > self.max_age:
                raise CallbackError("stale_timestamp", f"The timestamp is {int(age)} s away from now.")

    def decrypt(self, encrypt: str) -> str:
        try:
            return PrpCrypto(self.key).decrypt(encrypt, self.corp_id)
        except Exception as exc:  # any failure of base64, AES, padding or corp id is one answer
            raise CallbackError("undecryptable", "The payload cannot be decrypted for this corp.") from exc

    def encrypt(self, plaintext: str, *, nonce: str, timestamp: str) -> tuple[str, str]:
        """(Encrypt, msg_signature) for `plaintext`, as WeCom sends them; used by the emulator."""
        encrypt = PrpCrypto(self.key).encrypt(plaintext, self.corp_id)
        encrypt = encrypt.decode() if isinstance(encrypt, bytes) else encrypt
        return encrypt, self.signature(timestamp, nonce, encrypt)

    def verify_url(self, *, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The GET check WeCom makes when the callback URL is saved: answer the decrypted echostr."""
        self.verify(msg_signature=msg_signature, timestamp=timestamp, nonce=nonce, encrypt=echostr)
        return self.decrypt(echostr)

    def decrypt_message(self, *, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> dict:
        """The event inside a POSTed callback, as a dict of its XML fields."""
        envelope = xml_parse(body)
        encrypt = envelope.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise CallbackError("malformed_xml", "The body has no Encrypt element.")
        self.verify(msg_signature=msg_signature, timestamp=timestamp, nonce=nonce, encrypt=encrypt)
        return xml_parse(self.decrypt(encrypt))

    def encrypt_message(self, plaintext: str, *, nonce: str, timestamp: str, agent_id: str = "") -> tuple[bytes, str]:
        """A POST body and its msg_signature, exactly as WeCom delivers a callback."""
        encrypt, signature = self.encrypt(plaintext, nonce=nonce, timestamp=timestamp)
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[{agent_id}]]></AgentID></xml>"
        )
        return body.encode(), signature
