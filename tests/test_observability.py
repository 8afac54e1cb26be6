"""Watching Omni: the request id in responses and log lines, JSON log lines."""

import io
import json
import logging
import uuid

import pytest

from omni.logs import log_formatter

PHONE = "13812345678"


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
