"""Errors reach Sentry with the request id and without the customer: a local server speaks Sentry's envelope
protocol, and Omni runs in a fresh process (as uWSGI starts it, settings and all) with SENTRY_DSN pointing there."""

import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PHONE, NAME = "13812345678", "陈静怡"

# One request through the WSGI application, as a server makes it, to a view that raises.
REQUEST = """
import io, json, sys, urllib.parse, wsgiref.util
import sentry_sdk
from omni.wsgi import application

phone, name = sys.argv[1], sys.argv[2]
body = json.dumps({"phone": phone, "name": name}).encode()
environ = {
    "PATH_INFO": "/test/boom/",
    "QUERY_STRING": urllib.parse.urlencode({"phone": phone, "name": name}),
    "REQUEST_METHOD": "POST",
    "CONTENT_TYPE": "application/json",
    "CONTENT_LENGTH": str(len(body)),
    "HTTP_COOKIE": f"customer={phone}",
    "HTTP_REFERER": f"https://shop.example/?phone={phone}",
    "HTTP_X_REQUEST_ID": "sentry-test-request-0001",
    "wsgi.input": io.BytesIO(body),
}
wsgiref.util.setup_testing_defaults(environ)
answer = {}
def start_response(status, headers, exc_info=None):
    answer.update(status=status, headers=dict(headers))
b"".join(application(environ, start_response))
sentry_sdk.flush(timeout=10)
print(json.dumps({"status": answer["status"], "request_id": answer["headers"].get("X-Request-ID")}))
"""


class _Sentry(BaseHTTPRequestHandler):
    """Sentry's ingestion, as much as the SDK needs: POST /api/<project>/envelope/, answered 200."""

    envelopes: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path.startswith("/api/42/envelope/"):
            self.envelopes.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def _items(envelope: bytes) -> list[tuple[dict, bytes]]:
    """An envelope's items: a header line, then per item a header line and a payload (of `length` bytes, or to the
    end of the line)."""
    _, _, rest = envelope.partition(b"\n")
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :].removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


@pytest.fixture
def sentry_server():
    _Sentry.envelopes = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sentry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_unhandled_error_reaches_sentry_with_the_request_id_and_without_the_customer(sentry_server, tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.sentry_settings",
        OMNI_VAR_DIR=str(tmp_path / "var"),
        SENTRY_DSN=f"http://publickey@127.0.0.1:{sentry_server.server_port}/42",
        SENTRY_ENVIRONMENT="staging",
        SENTRY_RELEASE="omni@1.2.3",
    )

    done = subprocess.run(
        [sys.executable, "-c", REQUEST, PHONE, NAME], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"status": "500 Internal Server Error", "request_id": "sentry-test-request-0001"}
    events = [
        json.loads(payload)
        for envelope in _Sentry.envelopes
        for header, payload in _items(envelope)
        if header["type"] == "event"
    ]
    assert len(events) == 1
    [event] = events
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("RuntimeError", "could not reach customer [phone]")
    assert event["tags"]["request_id"] == "sentry-test-request-0001"
    assert (event["environment"], event["release"]) == ("staging", "omni@1.2.3")
    assert event["request"]["url"].endswith("/test/boom/")
    assert event["request"]["method"] == "POST"
    # The Django integration reported it (not only a log line), and none of the customer's data went with it.
    assert any(frame["function"] == "boom" for frame in exception["stacktrace"]["frames"])
    everything = b"".join(_Sentry.envelopes).decode()
    for secret in (PHONE, NAME, json.dumps(NAME)[1:-1]):
        assert secret not in everything
    assert "data" not in event["request"] and "cookies" not in event["request"]
    assert "query_string" not in event["request"]


def test_without_a_dsn_sentry_is_not_started():
    import sentry_sdk

    assert not os.environ.get("SENTRY_DSN")
    assert not sentry_sdk.get_client().is_active()


def test_event_scrub_keeps_the_ids_and_drops_what_may_carry_a_customer():
    import structlog

    from omni.sentry import event_scrub

    event = {
        "message": f"task for {PHONE} failed",
        "request": {
            "url": f"https://omni.example/sidebar/?phone={PHONE}",
            "method": "GET",
            "query_string": f"phone={PHONE}",
            "data": {"name": NAME},
            "cookies": {"sessionid": "s"},
            "headers": {"User-Agent": "WeCom", "Cookie": "sessionid=s", "Referer": f"https://x/?q={NAME}"},
            "env": {"REMOTE_ADDR": "10.0.0.1"},
        },
        "user": {"id": 7, "username": NAME},
        "extra": {"sys.argv": ["manage.py", "customer_find", NAME]},
        "breadcrumbs": {"values": [{"message": "SELECT … WHERE phone = '+86 138 1234 5678'"}]},
    }

    with structlog.contextvars.bound_contextvars(request_id="req-abcdef12", task_id="3f2c5e7a-0000"):
        scrubbed = event_scrub(event, {})

    assert scrubbed["tags"] == {"request_id": "req-abcdef12", "task_id": "3f2c5e7a-0000"}
    assert scrubbed["request"] == {
        "url": "https://omni.example/sidebar/",
        "method": "GET",
        "headers": {"User-Agent": "WeCom"},
    }
    assert "user" not in scrubbed and scrubbed["extra"] == {}
    assert scrubbed["message"] == "task for [phone] failed"
    assert scrubbed["breadcrumbs"]["values"][0]["message"] == "SELECT … WHERE phone = '[phone]'"
    assert PHONE not in json.dumps(scrubbed) and NAME not in json.dumps(scrubbed, ensure_ascii=False)
