"""A local server speaking the OpenAI-compatible chat completions API, as the WeCom emulator speaks WeCom's: the
drafts provider's tests (and a demo: `manage.py drafts_llm_emulator`) talk to it over HTTP, in the real format.

POST /v1/chat/completions (or /chat/completions) answers a `chat.completion` object (id, object, created, model,
choices[0].message {role, content, refusal}, finish_reason, usage). A wrong or missing `Authorization: Bearer` key
answers 401, a body without model or messages 400, both with the API's error object.

By default it writes a grounded draft from the facts in the prompt. Scripted replies (`script(...)` in a thread, or
POST /_emulator/script with {"replies": [...]}) answer the next requests in order, each a dict:
  {"mode": "grounded"}                      a draft from the facts only
  {"mode": "content", "content": "…"}       exactly this text
  {"mode": "invented_sku"}                  names a SKU she never bought or held
  {"mode": "wrong_price"}                   names her product at another price
  {"mode": "other_customer", "other": "王芳"} addresses someone else
  {"mode": "other_store", "other": "…店"}    sends her to another store
  {"mode": "foreign_coupon", "other": "…"}  names a coupon she does not hold
  {"mode": "wrong_date"}                    names a date not in her facts
  {"mode": "refusal"}                       the model refuses (message.refusal)
  {"mode": "slow", "seconds": 30}           answers after a delay (the client's timeout)
  {"mode": "error", "status": 500}          the API's error object with that status
GET /_emulator/requests lists the requests received (headers and bodies), for the tests to read the prompt.
"""

import contextlib
import datetime as dt
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _facts(body: dict) -> tuple[str, dict]:
    """The purpose label and the facts of the request's last user message (our provider's prompt)."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            try:
                data = json.loads(message.get("content") or "")
            except (TypeError, ValueError):
                return "", {}
            return data.get("purpose", ""), data.get("facts", {})
    return "", {}


def _md(iso: str) -> str:
    day = dt.date.fromisoformat(iso[:10])
    return f"{day.month}月{day.day}日"


def grounded_text(purpose: str, facts: dict) -> str:
    """A draft naming only what the facts hold, worded unlike the template drafter's."""
    hello = facts.get("salutation") or "您"
    store = (facts.get("store") or {}).get("name", "")
    if purpose == "新品到店" and facts.get("arrivals"):
        product = facts["arrivals"][0]["product"]
        return f"{hello}，好消息～{product['name']}刚到{store}，¥{product['price']}，正好是您的尺码，要不要来试试？"
    if purpose == "预留待取" and facts.get("holds"):
        hold = facts["holds"][0]
        return (
            f"{hello}，给您留的{hold['product']['name']}在{hold['store']}等您啦，"
            f"取货码 {hold['code']}，{_md(hold['expires_at'])}前来取就好～"
        )
    if purpose == "优惠券到期" and facts.get("coupons"):
        coupon = facts["coupons"][0]
        return f"{hello}，您的「{coupon['name']}」{_md(coupon['expires_on'])}就到期啦，别忘了用哦～"
    if purpose == "生日祝福" and facts.get("next_birthday"):
        return (
            f"{hello}，{_md(facts['next_birthday'])}生日快乐！{facts.get('associate', '')}和{store}的同事们祝您开心～"
        )
    if purpose == "积分将过期" and facts.get("loyalty"):
        loyalty = facts["loyalty"]
        expiring, day = loyalty["points_expiring"], _md(loyalty["points_expire_on"])
        return f"{hello}，您有{expiring}积分{day}到期，记得来{store}用掉哦～"
    return f"{hello}，好久没见您了，{store}最近上了新款，有空来坐坐～"


def hostile_text(reply: dict, purpose: str, facts: dict) -> str:
    """A grounded draft with one thing she does not have."""
    text = grounded_text(purpose, facts)
    mode = reply["mode"]
    if mode == "invented_sku":
        return text + "货号 QM-ZZ99-XX-M，记得报给店员。"
    if mode == "wrong_price":
        products = [a["product"] for a in facts.get("arrivals", [])] + [h["product"] for h in facts.get("holds", [])]
        products += [p["product"] for p in facts.get("purchases", [])]
        price = Decimal(products[0]["price"]) + 100 if products else Decimal("999")
        name = products[0]["name"] if products else "新款"
        return text + f"{name}现在只要¥{price}。"
    if mode == "other_customer":
        return f"{reply.get('other', '王芳')}，" + text
    if mode == "other_store":
        return text + f"也可以去{reply.get('other', '北京国贸店')}看看。"
    if mode == "foreign_coupon":
        return text + f"您还有一张「{reply.get('other', '满1000减300券')}」可以一起用。"
    if mode == "wrong_date":
        today = dt.date.fromisoformat(facts.get("today") or dt.date.today().isoformat())
        day = today + dt.timedelta(days=reply.get("days", 23))
        return text + f"{day.month}月{day.day}日店里还有活动。"
    raise ValueError(mode)


HOSTILE = {"invented_sku", "wrong_price", "other_customer", "other_store", "foreign_coupon", "wrong_date"}


@dataclass
class LLMState:
    api_key: str = ""
    replies: deque = field(default_factory=deque)
    requests: list = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _completion(model: str, content: str | None, *, refusal: str | None = None, finish: str = "stop") -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_omni_emulator",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 200, "completion_tokens": len(content or refusal or ""), "total_tokens": 260},
    }


def _error(message: str, kind: str, code: str | None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    server_version = "OmniLLMEmulator/1"
    state: LLMState

    def log_message(self, format, *args):
        return

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return {}

    def do_GET(self):
        if self.path == "/_emulator/requests":
            with self.state.lock:
                self._send(200, {"requests": list(self.state.requests)})
            return
        self._send(404, _error("Not found", "invalid_request_error", None))

    def do_POST(self):
        if self.path == "/_emulator/script":
            with self.state.lock:
                self.state.replies.extend(self._body().get("replies", []))
            self._send(200, {"queued": len(self.state.replies)})
            return
        if self.path not in ("/v1/chat/completions", "/chat/completions"):
            self._send(404, _error(f"Unknown request URL: POST {self.path}", "invalid_request_error", "unknown_url"))
            return
        body = self._body()
        with self.state.lock:
            self.state.requests.append({"headers": dict(self.headers), "body": body})
            reply = self.state.replies.popleft() if self.state.replies else {"mode": "grounded"}
        if self.state.api_key and self.headers.get("Authorization") != f"Bearer {self.state.api_key}":
            self._send(401, _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
            return
        if not body.get("model") or not body.get("messages"):
            self._send(400, _error("model and messages are required", "invalid_request_error", None))
            return
        model, mode = body["model"], reply.get("mode", "grounded")
        purpose, facts = _facts(body)
        if mode == "slow":
            self.state.stopping.wait(reply.get("seconds", 30))
            mode = "grounded"
        if mode == "error":
            status = reply.get("status", 500)
            self._send(status, _error("The server had an error while processing your request.", "server_error", None))
        elif mode == "refusal":
            self._send(200, _completion(model, None, refusal="I'm sorry, I can't help with that."))
        elif mode == "content":
            self._send(200, _completion(model, reply["content"]))
        elif mode in HOSTILE:
            self._send(200, _completion(model, hostile_text(reply, purpose, facts)))
        else:
            self._send(200, _completion(model, grounded_text(purpose, facts)))


class RunningLLMEmulator:
    def __init__(self, server: ThreadingHTTPServer, state: LLMState, thread: threading.Thread):
        self._server, self.state, self._thread = server, state, thread
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.api_base = f"{self.url}/v1"

    def script(self, *replies: dict) -> None:
        with self.state.lock:
            self.state.replies.extend(replies)

    @property
    def requests(self) -> list[dict]:
        with self.state.lock:
            return list(self.state.requests)

    def stop(self) -> None:
        self.state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_llm_emulator(*, host: str = "127.0.0.1", port: int = 0, api_key: str = "") -> RunningLLMEmulator:
    """The emulator in a thread of this process (port 0: any free port)."""
    state = LLMState(api_key=api_key)
    handler = type("LLMHandler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="llm-emulator", daemon=True)
    thread.start()
    return RunningLLMEmulator(server, state, thread)
