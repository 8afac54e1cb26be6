"""Watching Omni: the request id in responses and log lines, JSON log lines, /metrics (who may read it and what it
counts). The real worker carrying a request id and the multi-process metrics are at the end (separate processes)."""

import io
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from django.conf import settings as django_settings
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from omni.celery import app
from omni.logs import log_formatter
from tests.live_emulator import live_emulator
from tests.observability_urls import observability_failing_task, observability_log_task
from wecom.client import WeComError, wecom_client
from wecom.crypto import CallbackCrypto

ROOT = Path(django_settings.BASE_DIR)
PHONE = "13812345678"
VECTORS = json.loads((Path(__file__).parent / "data" / "wecom_vectors.json").read_text())
SET_A = VECTORS["set_a"]


@pytest.fixture
def log_lines():
    """The JSON lines the production formatter writes while the test runs (whatever OMNI_LOG_FORMAT the run has)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log_formatter("json"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def _metrics(client: Client | None = None, **extra) -> dict[tuple, float]:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _delta(before: dict, after: dict, name: str, **labels) -> float:
    return _value(after, name, **labels) - _value(before, name, **labels)


# Request id and log lines ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_answers_with_its_id_and_logs_one_json_line_with_it(client, log_lines):
    response = client.get("/api/v1/no-such-thing/", {"phone": PHONE})

    request_id = response["X-Request-ID"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    finished = [line for line in log_lines() if line.get("event", "").startswith("request_")]
    assert [(line["event"], line["request_id"], line["code"]) for line in finished] == [
        ("request_finished", request_id, 404)
    ]
    assert finished[0]["request"] == "GET /api/v1/no-such-thing/"
    assert PHONE not in json.dumps(log_lines())


@pytest.mark.django_db
def test_two_requests_have_two_ids(client):
    first, second = client.get("/api/v1/no-such-thing/"), client.get("/api/v1/no-such-thing/")

    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize(
    "incoming,kept",
    [
        ("0f3c5a9e7b2d4c1e8f6a0b9c8d7e6f5a", True),  # nginx's $request_id
        (str(uuid.uuid4()), True),
        ("short", False),
        ("x" * 129, False),
        ('abc def" injected=1', False),
        ("abcdefgh\nfake line", False),
    ],
)
@pytest.mark.django_db
def test_the_proxys_request_id_is_kept_only_when_well_formed(client, log_lines, incoming, kept):
    response = client.get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID=incoming)

    request_id = response["X-Request-ID"]
    assert (request_id == incoming) is kept
    if not kept:
        assert len(request_id) == 32
    assert [line["request_id"] for line in log_lines() if line["event"] == "request_finished"] == [request_id]


@pytest.mark.urls("tests.observability_urls")
@pytest.mark.django_db
def test_a_task_queued_by_a_request_logs_with_the_requests_id(client, log_lines):
    response = client.get("/test/queue-a-task/", {"note": f"call {PHONE}"}, HTTP_X_REQUEST_ID="req-0123456789")

    assert response["X-Request-ID"] == "req-0123456789"
    task_lines = [line for line in log_lines() if line["logger"] == "tests.observability"]
    assert [(line["event"], line["request_id"]) for line in task_lines] == [
        ("task logged call [phone]", "req-0123456789")
    ]


def test_stdlib_log_lines_are_json_and_carry_no_phone_number(log_lines):
    logging.getLogger("wecom.services").warning("Customer +8613900001111 (%s) not found", "138 1234 5678")

    [line] = log_lines()
    assert line == {
        "event": "Customer [phone] ([phone]) not found",
        "logger": "wecom.services",
        "level": "warning",
        "timestamp": line["timestamp"],
    }


def test_a_logged_traceback_is_plain_and_carries_no_phone_number(log_lines):
    customer_phone = PHONE  # a frame variable: not shown
    try:
        raise ValueError(f"no customer {customer_phone}")
    except ValueError:
        logging.getLogger("customers.services").exception("Lookup failed")

    [line] = log_lines()
    assert line["event"] == "Lookup failed"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ValueError: no customer [phone]")
    assert PHONE not in json.dumps(line)


def test_credentials_in_a_logged_url_are_redacted(log_lines):
    token, secret = "tZoNhc2oGhVm0mQBrXVKCZ1Kjg-x_Y", "omni-corp-secret-value"
    try:
        raise ConnectionError(f"Max retries exceeded with url: /cgi-bin/externalcontact/get?access_token={token}")
    except ConnectionError:
        logging.getLogger("wecom.client").exception("WeCom unreachable: gettoken?corpid=ww1&corpsecret=%s", secret)

    [line] = log_lines()
    assert line["event"] == "WeCom unreachable: gettoken?corpid=ww1&corpsecret=[redacted]"
    assert line["exception"].endswith("externalcontact/get?access_token=[redacted]")
    assert token not in json.dumps(line) and secret not in json.dumps(line)


# /metrics: who may read it -----------------------------------------------------------------------

BEARER = "Bearer s3cret-metrics-token"


@pytest.mark.parametrize(
    "address,headers,status",
    [
        ("127.0.0.1", {}, 200),
        ("::1", {}, 200),
        ("10.0.5.9", {}, 403),
        ("10.0.0.7", {}, 200),  # inside the configured network
        ("10.0.5.9", {"HTTP_AUTHORIZATION": "Bearer s3cret-metrics-token"}, 200),
        ("10.0.5.9", {"HTTP_AUTHORIZATION": "Bearer wrong"}, 403),
        ("10.0.5.9", {"HTTP_AUTHORIZATION": "s3cret-metrics-token"}, 403),
        # Through a proxy on the same host every visitor is 127.0.0.1: only the token counts.
        ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": "203.0.113.5"}, 403),
        ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": "203.0.113.5", "HTTP_AUTHORIZATION": BEARER}, 200),
    ],
)
@pytest.mark.django_db
def test_metrics_answer_the_allowed_addresses_and_the_token_only(client, settings, address, headers, status):
    settings.OMNI_METRICS_ALLOWED_IPS = ["127.0.0.1", "::1", "10.0.0.0/29"]
    settings.OMNI_METRICS_TOKEN = "s3cret-metrics-token"

    response = client.get("/metrics", REMOTE_ADDR=address, **headers)

    assert response.status_code == status
    assert (b"omni_celery_queue_length" in response.content) is (status == 200)


@pytest.mark.django_db
def test_metrics_are_not_redirected_to_https_nor_refused_for_their_host(client, settings):
    """Prometheus scrapes a node by its address over plain HTTP, whatever the public name and HTTPS policy."""
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["omni.brand.example"]

    response = client.get("/metrics", HTTP_HOST="127.0.0.1:8000")

    assert response.status_code == 200
    assert client.get("/api/v1/no-such-thing/", HTTP_HOST="omni.brand.example").status_code == 301


@pytest.mark.django_db
def test_the_logged_address_is_the_clients_behind_a_trusted_proxy_and_never_a_forwarded_one_from_elsewhere(
    client, log_lines
):
    client.get("/api/v1/no-such-thing/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.9")
    with override_settings(OMNI_TRUSTED_PROXIES=["10.1.2.0/24"]):
        client.get("/api/v1/no-such-thing/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert [line["ip"] for line in log_lines() if line["event"] == "request_finished"] == ["10.1.2.3", "203.0.113.9"]


@pytest.mark.django_db
def test_without_a_token_setting_no_bearer_is_accepted(client, settings):
    settings.OMNI_METRICS_TOKEN = ""

    response = client.get("/metrics", REMOTE_ADDR="10.0.5.9", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 403


# /metrics: what it counts ------------------------------------------------------------------------


@pytest.mark.django_db
def test_requests_are_counted_by_view_and_status(client):
    before = _metrics(client)

    client.get("/")
    client.get("/")

    after = _metrics(client)
    counted = "django_http_responses_total_by_status_view_method_total"
    assert _delta(before, after, counted, status="302", view="home", method="GET") == 2
    latencies = "django_http_requests_latency_seconds_by_view_method_count"
    assert _delta(before, after, latencies, view="home", method="GET") == 2


@pytest.mark.django_db
def test_task_runs_are_counted_by_name_and_outcome():
    before = _metrics()

    observability_log_task.delay("x")
    observability_log_task.delay("y")
    # As in a worker: an eager task that propagates its error ends before Celery's postrun signal.
    app.conf.task_eager_propagates = False
    try:
        assert observability_failing_task.delay().failed()
    finally:
        app.conf.task_eager_propagates = True

    after = _metrics()
    ran, failed = observability_log_task.name, observability_failing_task.name
    assert _delta(before, after, "omni_celery_tasks_total", task=ran, outcome="succeeded") == 2
    assert _delta(before, after, "omni_celery_tasks_total", task=failed, outcome="failed") == 1
    assert _delta(before, after, "omni_celery_tasks_total", task=failed, outcome="succeeded") == 0
    assert _delta(before, after, "omni_celery_task_duration_seconds_count", task=ran) == 2


CORP_ID, AGENT_ID, SECRET = "wwomniobserve00001", "1000002", "omni-observe-secret"
TOKEN, AES_KEY = "OmniObserveToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"


@pytest.fixture
def emulator(live_server, settings):
    config = {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
    with live_emulator(settings, live_server.url, **config) as running:
        yield running


@pytest.mark.django_db(transaction=True)
def test_wecom_api_calls_are_counted_by_endpoint_and_errcode(emulator):
    before = _metrics()

    wecom_client().external_contact.get_follow_user_list()
    emulator.control("POST", "associates", {"userid": "linyu", "name": "林雨", "store": "上海静安店"})
    with pytest.raises(WeComError):
        wecom_client().external_contact.list("linyu")  # no relationship: 84061

    after = _metrics()

    def counted(endpoint, errcode):
        return _delta(before, after, "omni_wecom_api_calls_total", endpoint=endpoint, errcode=errcode)

    assert counted("gettoken", "0") == 1
    assert counted("externalcontact/get_follow_user_list", "0") == 1
    assert counted("externalcontact/list", "84061") == 1
    assert counted("externalcontact/list", "0") == 0


@pytest.mark.django_db(transaction=True)
def test_wecom_callbacks_are_counted_accepted_and_refused(client, settings):
    settings.WECOM_TOKEN, settings.WECOM_ENCODING_AES_KEY = SET_A["token"], SET_A["encoding_aes_key"]
    settings.WECOM_CORP_ID, settings.WECOM_CALLBACK_MAX_AGE = SET_A["corpid"], 300
    crypto = CallbackCrypto(token=SET_A["token"], encoding_aes_key=SET_A["encoding_aes_key"], corp_id=SET_A["corpid"])
    before = _metrics(client)

    assert _callback(client, crypto).status_code == 200
    assert _callback(client, crypto, signature="0" * 40).status_code == 403
    assert _callback(client, crypto, timestamp="1").status_code == 403

    after = _metrics(client)

    def counted(outcome, reason=""):
        return _delta(before, after, "omni_wecom_callbacks_total", outcome=outcome, reason=reason)

    assert (counted("accepted"), counted("refused", "invalid_signature"), counted("refused", "stale_timestamp")) == (
        1,
        1,
        1,
    )


def _callback(client, crypto, *, signature=None, timestamp=None):
    timestamp = timestamp or str(int(time.time()))
    plaintext = (
        f"<xml><ToUserName><![CDATA[{SET_A['corpid']}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_tag]]></Event><ChangeType><![CDATA[delete]]></ChangeType>"
        f"<Id><![CDATA[et{uuid.uuid4().hex[:8]}]]></Id><TagType><![CDATA[tag]]></TagType></xml>"
    )
    body, good = crypto.encrypt_message(plaintext, nonce="n1", timestamp=timestamp)
    query = urlencode({"msg_signature": signature or good, "timestamp": timestamp, "nonce": "n1"})
    return client.post(f"/wecom/callback/?{query}", body, content_type="text/xml")


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")  # send_task publishes, as meant here
@pytest.mark.django_db
def test_queue_depths_are_read_from_the_broker_at_scrape_time():
    """On the embedded default's filesystem broker, or on Redis (LLEN) when REDIS_URL is set."""
    with app.connection_for_write() as connection:
        for queue in ("realtime", "bulk"):
            connection.default_channel.queue_purge(queue)
        for _ in range(3):
            app.send_task("omni.never_run", queue="bulk", connection=connection)
        app.send_task("omni.never_run", queue="realtime", connection=connection)
        try:
            samples = _metrics()
        finally:
            for queue in ("realtime", "bulk"):
                connection.default_channel.queue_purge(queue)

    assert _value(samples, "omni_celery_queue_length", queue="bulk") == 3
    assert _value(samples, "omni_celery_queue_length", queue="realtime") == 1
    assert _value(samples, "omni_celery_broker_up") == 1
    assert _value(_metrics(), "omni_celery_queue_length", queue="bulk") == 0


@pytest.mark.django_db
def test_a_broker_that_does_not_answer_is_shown_not_failing_the_scrape(settings):
    app.conf.broker_url, saved = "redis://127.0.0.1:9/0", app.conf.broker_url
    try:
        samples = _metrics()
    finally:
        app.conf.broker_url = saved

    assert _value(samples, "omni_celery_broker_up") == 0
    assert ("omni_celery_queue_length", (("queue", "bulk"),)) not in samples


# Separate processes: a real worker, and /metrics adding up every process ---------------------------------------

# A web process: it serves one WeCom callback (which queues its task to the broker) and, when asked, /metrics.
WEB = """
import json, sys, time, urllib.parse
import django
django.setup()
from django.test import Client
from wecom.crypto import CallbackCrypto

vectors = json.loads(sys.argv[1])
client = Client()
if sys.argv[2] == "callback":
    timestamp = str(int(time.time()))
    plaintext = (
        f"<xml><ToUserName><![CDATA[{vectors['corpid']}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_tag]]></Event><ChangeType><![CDATA[delete]]></ChangeType>"
        "<Id><![CDATA[etWORKER]]></Id><TagType><![CDATA[tag]]></TagType></xml>"
    )
    crypto = CallbackCrypto(
        token=vectors["token"], encoding_aes_key=vectors["encoding_aes_key"], corp_id=vectors["corpid"]
    )
    body, signature = crypto.encrypt_message(plaintext, nonce="n1", timestamp=timestamp)
    query = urllib.parse.urlencode({"msg_signature": signature, "timestamp": timestamp, "nonce": "n1"})
    response = client.post(f"/wecom/callback/?{query}", body, content_type="text/xml")
    print(json.dumps({"status": response.status_code, "request_id": response["X-Request-ID"]}))
else:
    print(json.dumps({"metrics": client.get("/metrics").content.decode()}))
"""


def _last_json(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_real_worker_logs_the_task_with_the_request_id_and_metrics_add_up_both_processes(tmp_path):
    var_dir, metrics_dir = tmp_path / "var", tmp_path / "metrics"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        OMNI_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="omni.settings",
        OMNI_LOG_FORMAT="json",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        WECOM_TOKEN=SET_A["token"],
        WECOM_ENCODING_AES_KEY=SET_A["encoding_aes_key"],
        WECOM_CORP_ID=SET_A["corpid"],
    )
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, capture_output=True
    )
    assert migrated.returncode == 0, migrated.stderr[-2000:]

    def web(*args):
        command = [sys.executable, "-c", WEB, json.dumps(SET_A), *args]
        return _last_json(subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120))

    answer = web("callback")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "omni", "worker", "-Q", "realtime", "--pool", "solo", "-l", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: queue.Queue[str] = queue.Queue()
    # Read in a thread: a worker that never logs the line must fail the test, not hang it.
    threading.Thread(target=lambda: [output.put(line) for line in worker.stdout], daemon=True).start()
    seen, lines, deadline = [], [], time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not any(line.get("event") == "task_succeeded" for line in lines):
            try:
                line = output.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            if line.startswith("{"):
                lines.append(json.loads(line))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    rest = "".join(seen[-40:])
    metrics = web("metrics")["metrics"]

    assert answer["status"] == 200
    succeeded = [line for line in lines if line.get("event") == "task_succeeded"]
    assert [(line["task_id"] != "", line["request_id"]) for line in succeeded] == [(True, answer["request_id"])], rest
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
    }
    task = "wecom.tasks.callback_event_process_task"
    # Counted in the worker and in the first web process, both gone; read by a third process.
    assert _value(samples, "omni_celery_tasks_total", task=task, outcome="succeeded") == 1
    assert _value(samples, "omni_wecom_callbacks_total", outcome="accepted", reason="") == 1
    # One file per process and kind, named by host and pid (containers sharing the directory reuse pids).
    assert len({path.name.split("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}) >= 3
    assert all(path.name.startswith(f"counter_{socket.gethostname()}-") for path in metrics_dir.glob("counter_*.db"))


def test_metrics_add_up_the_requests_of_every_uwsgi_worker(tmp_path):
    """uWSGI as in production (uwsgi.ini, four processes): whichever worker answers /metrics counts them all."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="omni.settings",
        OMNI_VAR_DIR=str(tmp_path / "var"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        # Four workers starting at once in a fresh var/ would race to make its secret key file.
        DJANGO_SECRET_KEY="observability-test-key-" + "x" * 40,
    )
    uwsgi = Path(sys.executable).parent / "uwsgi"
    # --log-4xx: the 404s below are logged with the pid of the worker that answered.
    command = [str(uwsgi), "--ini", "uwsgi.ini", "--http-socket", f"127.0.0.1:{port}", "--processes", "4", "--log-4xx"]
    log = (tmp_path / "uwsgi.log").open("w")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        # lazy-apps: each worker loads Django itself and says so.
        while (tmp_path / "uwsgi.log").read_text().count("WSGI app 0 (mountpoint='') ready") < 4:
            assert time.monotonic() < deadline and server.poll() is None, "uWSGI did not start"
            time.sleep(0.5)
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: requests.get(f"{base}/api/v1/no-such-thing/", timeout=30), range(40)))
        statuses = [answer.status_code for answer in answers]
        scraped = requests.get(f"{base}/metrics", timeout=30).text
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()

    output = (tmp_path / "uwsgi.log").read_text()
    assert statuses == [404] * 40, output[-3000:]
    answered_by = set(re.findall(r"\[pid: (\d+)\|app: 0\|req: \d+/\d+\] .* GET /api/v1/no-such-thing/", output))
    assert len(answered_by) >= 2
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    assert _value(samples, "django_http_responses_total_by_status_total", status="404") == 40
