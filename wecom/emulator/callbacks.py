"""Event callbacks to Omni, encrypted and delivered as WeCom does (Doc 90930, 92130).

An event is rendered to WeCom's plaintext XML, encrypted with CallbackCrypto and POSTed to the callback
URL with msg_signature, timestamp and nonce in the query. One background thread delivers events in the
order they happened; an attempt that is not answered with HTTP 200 within the timeout is retried
(three retries, as WeCom does). Every attempt is written to the delivery log. The `callbacks` fault
can switch delivery off (events are logged as skipped) or deliver every event twice.
"""

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from wecom.crypto import CallbackCrypto
from wecom.emulator import limits as L
from wecom.emulator.state import EmulatorState

logger = logging.getLogger(__name__)
ERROR_TEXT_MAX_CHARS = 300


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside one CDATA section: split it across two.
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def event_xml(items: list[tuple[str, Any]]) -> str:
    """WeCom's flat event XML: strings as CDATA, integers bare, lists as repeated <Item>; None is left out."""
    parts = ["<xml>"]
    for name, value in items:
        if value is None:
            continue
        if isinstance(value, list):
            inner = "".join(f"<Item>{_cdata(item)}</Item>" for item in value)
            parts.append(f"<{name}>{inner}</{name}>")
        elif isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}>{_cdata(value)}</{name}>")
    parts.append("</xml>")
    return "".join(parts)


class CallbackDispatcher:
    def __init__(
        self,
        *,
        state: EmulatorState,
        crypto: CallbackCrypto,
        agent_id: str,
        callback_url: Callable[[], str],
        on_first_attempt: Callable[[dict], None] | None = None,
    ):
        self.state = state
        self.crypto = crypto
        self.agent_id = agent_id
        self.callback_url = callback_url
        self.on_first_attempt = on_first_attempt
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._stop = threading.Event()
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="wecom-emulator-callbacks", daemon=True)
        self._thread.start()

    def emit(self, event: str, change_type: str | None, items: list[tuple[str, Any]]) -> list[dict]:
        """Queue one event (twice in duplicate mode); returns the delivery log records."""
        created = int(self.state.now())
        header = [
            ("ToUserName", self.crypto.corp_id),
            ("FromUserName", "sys"),
            ("CreateTime", created),
            ("MsgType", "event"),
            ("Event", event),
        ]
        # Customer events put ChangeType right after Event; group and tag events place it themselves.
        if event == "change_external_contact":
            header.append(("ChangeType", change_type))
        plaintext = event_xml(header + items)
        mode = self.state.faults.callbacks
        copies = 2 if mode == "duplicate" else 1
        records = []
        with self.state.lock:
            for copy in range(copies):
                record = {
                    "id": secrets.token_hex(8),
                    "event": event,
                    "change_type": change_type,
                    "fields": {name: value for name, value in header + items if value is not None},
                    "plaintext": plaintext,
                    "created_at": created,
                    "status": "skipped" if mode == "off" else "queued",
                    "duplicate_of": records[0]["id"] if copy else None,
                    "url": self.callback_url(),
                    "attempts": [],
                }
                self.state.deliveries.append(record)
                records.append(record)
        if mode != "off":
            with self._idle:
                self._pending += len(records)
            for record in records:
                self._queue.put(record)
        return records

    def wait_idle(self, timeout: float) -> bool:
        """Block until every queued delivery has finished (delivered or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._session.close()

    def verify_url(self) -> dict:
        """The GET WeCom makes when the callback URL is saved: Omni must answer the decrypted echostr, signed with
        the app's token and encrypted with its EncodingAESKey; the answer, its status and time are reported."""
        echo = secrets.token_hex(10)
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        echostr, signature = self.crypto.encrypt(echo, nonce=nonce, timestamp=timestamp)
        params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr}
        url = self.callback_url()
        started = time.monotonic()
        try:
            response = self._session.get(url, params=params, timeout=self.state.faults.callback_timeout)
        except requests.RequestException as exc:
            return {"ok": False, "url": url, "error": f"{exc.__class__.__name__}: {exc}"[:ERROR_TEXT_MAX_CHARS]}
        answered = response.text.strip()
        return {
            "ok": response.status_code == 200 and answered == echo,
            "url": url,
            "http_status": response.status_code,
            "echo_matched": answered == echo,
            "answer": answered[:ERROR_TEXT_MAX_CHARS],
            "elapsed_ms": round((time.monotonic() - started) * 1000),
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            record = self._queue.get()
            if record is None:
                return
            try:
                self._deliver(record)
            except Exception:  # a bug here must not kill the thread that delivers every later event
                logger.exception("callback delivery %s crashed", record["id"])
                with self.state.lock:
                    record["status"] = "failed"
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, record: dict) -> None:
        # The signature's timestamp is wall-clock time: Omni checks it against its own clock, which the
        # emulator's test clock offset does not move. CreateTime inside the event follows the emulator.
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        body, signature = self.crypto.encrypt_message(
            record["plaintext"], nonce=nonce, timestamp=timestamp, agent_id=self.agent_id
        )
        params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
        for attempt in range(1 + L.CALLBACK_RETRIES):
            if attempt and self._stop.wait(self.state.faults.callback_retry_delay):
                return
            if attempt == 0 and self.on_first_attempt:
                self.on_first_attempt(record)
            with self.state.lock:
                record["status"] = "delivering"
            started = time.monotonic()
            outcome: dict[str, Any] = {"at": self.state.now(), "http_status": None, "error": None}
            try:
                response = self._session.post(
                    record["url"],
                    params=params,
                    data=body,
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                    timeout=self.state.faults.callback_timeout,
                )
                outcome["http_status"] = response.status_code
                if response.status_code != 200:
                    outcome["error"] = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                outcome["error"] = f"{exc.__class__.__name__}: {exc}"[:ERROR_TEXT_MAX_CHARS]
            outcome["elapsed_ms"] = round((time.monotonic() - started) * 1000)
            with self.state.lock:
                record["attempts"].append(outcome)
                if outcome["error"] is None:
                    record["status"] = "delivered"
                    return
        with self.state.lock:
            record["status"] = "failed"
        logger.warning("callback %s %s gave up after %d attempts", record["event"], record["change_type"], attempt + 1)
