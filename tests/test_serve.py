"""`./run serve` as a brand's operator runs it: production settings (DEBUG off) on a private PostgreSQL and Redis
(tests/servers.py), behind a TLS-terminating proxy played by the test (X-Forwarded-Proto / X-Forwarded-For from
127.0.0.1, the trusted proxy).

The served tests start every role once for the module (uWSGI, the realtime and bulk workers, beat) and run in file
order: the fault tests stop Redis and PostgreSQL and bring them back, the last one stops `./run serve` with SIGTERM.
They are PostgreSQL tests (production is PostgreSQL), so `./run test` runs them in its PostgreSQL pass only.
"""

import importlib.machinery
import importlib.util
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.test import RequestFactory, override_settings

from omni.proxy import ForwardedHeadersMiddleware, client_ip
from tests.servers import PrivatePostgres, PrivateRedis, free_port, private_postgres, private_redis

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
ADMIN_PASSWORD = "serve-admin-password-1"
CLIENT_ADDRESS = "203.0.113.7"  # the customer-facing address the balancer saw (TEST-NET-3)
HTTPS = {"X-Forwarded-Proto": "https"}
# Variables of the machine or the test run that must not leak into the production processes.
NOT_PASSED = ("OMNI_", "DJANGO_", "CELERY_", "WECOM_", "WECHAT_", "DATABASE_", "REDIS_")

SETUP = """
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.cached_db import SessionStore
from associates.auth import SESSION_KEY
from associates.models import Associate, Store
from customers.models import Customer
get_user_model().objects.create_superuser("admin", "admin@example.com", "{password}")
store = Store.objects.create(code="SH01", name="上海静安店", city="上海")
associate = Associate.objects.create(store=store, wecom_userid="linyu", name="林雨")
customer = Customer.objects.create(name="陈静", primary_store=store, primary_associate=associate)
session = SessionStore()
session[SESSION_KEY] = associate.pk
session.create()
print("SETUP", customer.pk, session.session_key)
"""


def _load_run():
    """The ./run script as a module (it has no .py suffix), for its ROLES."""
    loader = importlib.machinery.SourceFileLoader("omni_run_script", str(ROOT / "run"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def production_env(var_dir: Path, **values: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(NOT_PASSED)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        PYTHONUNBUFFERED="1",
        OMNI_VAR_DIR=str(var_dir),
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        OMNI_TRUSTED_PROXIES="127.0.0.1",
        OMNI_HOST="127.0.0.1",
        OMNI_WEB_PROCESSES="2",
        OMNI_REALTIME_CONCURRENCY="1",
        OMNI_BULK_CONCURRENCY="1",
    )
    env.update(values)
    return env


def wait_until(what: str, probe: Callable[[], object], seconds: float = 90, log: Path | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"{what}: not within {seconds} s\n{tail}")


def get(url: str, **kwargs) -> requests.Response | None:
    try:
        return requests.get(url, timeout=10, allow_redirects=False, **kwargs)
    except requests.ConnectionError:
        return None


def readyz(base: str) -> tuple[int, dict] | None:
    answer = get(f"{base}/readyz")
    return (answer.status_code, answer.json()) if answer is not None else None


def start_serve(env: dict, log: Path, *role: str) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "run"), "serve", *role],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_serve(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@dataclass
class Served:
    url: str
    port: int
    env: dict
    log: Path
    process: subprocess.Popen
    pg: PrivatePostgres
    redis: PrivateRedis
    customer_id: int
    associate_session: str
    unmigrated: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("serve-var")
    log = var_dir / "serve.log"
    with private_postgres() as pg, private_redis() as redis:
        port = free_port()
        env = production_env(var_dir, DATABASE_URL=pg.createdb("omni"), REDIS_URL=redis.url(0), OMNI_PORT=str(port))
        # Before `./run migrate`: serve must refuse (the operator migrates before switching traffic).
        unmigrated = subprocess.run(
            [sys.executable, str(ROOT / "run"), "serve"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        migrate = subprocess.run(
            [sys.executable, str(ROOT / "run"), "migrate"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
        setup = manage(env, "shell", "-c", SETUP.format(password=ADMIN_PASSWORD))
        assert setup.returncode == 0, setup.stderr[-3000:]
        customer_id, session_key = setup.stdout.split("SETUP ")[1].split()
        process = start_serve(env, log)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until("/readyz answers 200", lambda: (readyz(base) or (0,))[0] == 200, log=log)
            yield Served(base, port, env, log, process, pg, redis, int(customer_id), session_key, unmigrated)
        finally:
            stop_serve(process)


# ---------------------------------------------------------------------------------------------------------------
# Without servers: the refusals, the forwarded headers, the tasks' classes


@pytest.mark.parametrize("variable", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "REDIS_URL"])
def test_serve_refuses_to_start_without_a_production_variable_and_names_it(tmp_path, variable):
    env = production_env(
        tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere", REDIS_URL="redis://127.0.0.1:1/0"
    )
    del env[variable]

    done = subprocess.run(
        [sys.executable, str(ROOT / "run"), "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode != 0
    named = [line for line in done.stderr.splitlines() if f"{variable} is not set" in line]
    assert len(named) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_serve_without_a_database_url_points_to_the_demo(tmp_path):
    env = production_env(tmp_path)

    done = subprocess.run(
        [sys.executable, str(ROOT / "run"), "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode != 0
    assert "DATABASE_URL is not set" in done.stderr


def test_serve_names_its_roles():
    roles = _load_run().ROLES

    assert list(roles) == ["web", "worker realtime", "worker bulk", "beat"]


def _request(remote_addr: str, **headers: str):
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers)
    ForwardedHeadersMiddleware(lambda r: None)(request)
    return request


@override_settings(OMNI_TRUSTED_PROXIES=["10.0.0.0/8"], SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_forwarded_headers_count_only_from_a_trusted_proxy():
    headers = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": f"198.51.100.1, {CLIENT_ADDRESS}"}

    from_balancer = _request("10.1.2.3", **headers)
    from_anyone = _request("192.0.2.50", **headers)

    # the balancer's word is taken: HTTPS, and the address it saw (the right-most; the left one the client wrote)
    assert from_balancer.is_secure()
    assert client_ip(from_balancer) == CLIENT_ADDRESS
    # a client that connects directly cannot claim either
    assert not from_anyone.is_secure()
    assert client_ip(from_anyone) == "192.0.2.50"


def test_without_trusted_proxies_the_client_is_the_connection():
    request = _request("10.1.2.3", HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_FOR=CLIENT_ADDRESS)

    assert not request.is_secure()
    assert client_ip(request) == "10.1.2.3"


def test_every_task_has_a_queue_and_time_limits_the_broker_outlasts():
    from django.conf import settings

    from omni.celery import REALTIME, TASKS, app

    app.loader.import_default_modules()
    # Celery's own and those the tests define for themselves aside.
    registered = {name for name in app.tasks if not name.startswith(("celery.", "tests."))}
    longest_backoff = max(getattr(app.tasks[name], "retry_backoff_max", 0) or 0 for name in registered)

    assert registered == set(TASKS)
    assert all(0 < soft < hard for _, soft, hard in TASKS.values())
    assert all(app.tasks[name].time_limit == hard for name, (_, _, hard) in TASKS.items())
    assert max(hard for queue, _, hard in TASKS.values() if queue == REALTIME) <= 5 * 60
    assert max(hard for _, _, hard in TASKS.values()) < settings.CELERY_BROKER_VISIBILITY_TIMEOUT
    assert longest_backoff < settings.CELERY_BROKER_VISIBILITY_TIMEOUT


# ---------------------------------------------------------------------------------------------------------------
# ./run serve, every role, on PostgreSQL and Redis


@pytest.mark.postgres
def test_serve_refused_to_start_before_the_migrations(served):
    assert served.unmigrated.returncode != 0
    assert "unapplied migrations: run `./run migrate` first" in served.unmigrated.stderr


@pytest.mark.postgres
def test_readyz_names_each_check_and_healthz_answers(served):
    status, body = readyz(served.url)
    health = get(f"{served.url}/healthz")
    # A balancer's probe names the node by its address, not one of DJANGO_ALLOWED_HOSTS.
    probes = [get(f"{served.url}/{path}", headers={"Host": "10.0.0.5:8000"}) for path in ("healthz", "readyz")]

    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok", "migrations": "ok"},
    }
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert [probe.status_code for probe in probes] == [200, 200]


@pytest.mark.postgres
def test_the_admin_login_page_links_hashed_static_files_cached_for_a_year(served):
    page = get(f"{served.url}/admin/login/", headers=HTTPS)
    stylesheets = re.findall(r'<link rel="stylesheet" href="(/static/[^"]+\.css)"', page.text)

    assert page.status_code == 200
    assert stylesheets, page.text[:2000]
    for href in stylesheets:
        assert re.search(r"\.[0-9a-f]{12}\.css$", href), href
        answer = get(f"{served.url}{href}", headers={**HTTPS, "Accept-Encoding": "gzip"})
        assert answer.status_code == 200, href
        assert answer.headers["Content-Type"].startswith("text/css")
        max_age = int(re.search(r"max-age=(\d+)", answer.headers["Cache-Control"]).group(1))
        assert max_age >= 365 * 24 * 3600, answer.headers["Cache-Control"]


def admin_session(served) -> str:
    """The superuser's session key, signed in through the admin's login form behind the proxy."""
    login_url = f"{served.url}/admin/login/"
    csrf = get(login_url, headers=HTTPS).cookies["csrftoken"]
    signed_in = requests.post(
        login_url,
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": csrf, "next": "/admin/"},
        headers={**HTTPS, "Cookie": f"csrftoken={csrf}", "Referer": f"https://127.0.0.1:{served.port}/admin/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302, signed_in.text[:2000]
    return signed_in.cookies["sessionid"]


@pytest.mark.postgres
def test_admin_login_behind_the_proxy_sets_secure_cookies_and_the_audit_log_has_the_clients_address(served):
    proxied = {**HTTPS, "X-Forwarded-For": CLIENT_ADDRESS}
    login_url = f"{served.url}/admin/login/"
    form = get(login_url, headers=proxied)
    csrf = form.cookies["csrftoken"]
    csrf_cookie = next(cookie for cookie in form.cookies if cookie.name == "csrftoken")

    # Secure cookies are not sent back over plain HTTP by a cookie jar: the proxy's HTTPS is the test's headers,
    # so the test sends them itself.
    signed_in = requests.post(
        login_url,
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": csrf, "next": "/admin/"},
        headers={**proxied, "Cookie": f"csrftoken={csrf}", "Referer": f"https://127.0.0.1:{served.port}/admin/login/"},
        allow_redirects=False,
        timeout=10,
    )
    session = next((cookie for cookie in signed_in.cookies if cookie.name == "sessionid"), None)
    customer = get(
        f"{served.url}/admin/customers/customer/{served.customer_id}/change/",
        headers={**proxied, "Cookie": f"sessionid={session.value if session else ''}"},
    )
    address = served.pg.psql(
        "omni", f"SELECT host(ip) FROM customers_auditlog WHERE customer_id = {served.customer_id} ORDER BY id"
    )

    assert csrf_cookie.secure
    assert signed_in.status_code == 302, signed_in.text[:2000]
    assert signed_in.headers["Location"] == "/admin/"
    assert session is not None and session.secure
    assert signed_in.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert customer.status_code == 200
    assert address == CLIENT_ADDRESS


@pytest.mark.postgres
def test_plain_http_is_redirected_to_https_except_the_probes(served):
    page = get(f"{served.url}/admin/login/")

    assert page.status_code == 301
    assert page.headers["Location"] == f"https://127.0.0.1:{served.port}/admin/login/"
    assert get(f"{served.url}/healthz").status_code == 200


@pytest.mark.postgres
def test_check_deploy_reports_no_issues_on_the_served_settings(served):
    done = manage(served.env, "check", "--deploy", "--fail-level", "WARNING")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.postgres
def test_two_workers_each_consume_only_their_own_queue(served):
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "celery"), "-A", "omni", "inspect", "active_queues", "-j", "--timeout", "5"],
        cwd=ROOT,
        env=served.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    queues = {worker.split("@")[0]: [queue["name"] for queue in found] for worker, found in answers.items()}

    assert queues == {"realtime": ["realtime"], "bulk": ["bulk"]}


@pytest.mark.postgres
def test_readyz_names_redis_while_it_is_down_and_recovers_when_it_is_back(served):
    served.redis.stop()
    try:
        _, body = wait_until("/readyz says 503", lambda: (r := readyz(served.url)) and r[0] == 503 and r)
    finally:
        served.redis.start()
    recovered = wait_until("/readyz 200 again", lambda: (r := readyz(served.url)) and r[0] == 200 and r)

    assert body["status"] == "unavailable"
    assert body["checks"]["cache"].startswith("unavailable")
    assert body["checks"]["broker"].startswith("unavailable")
    assert body["checks"]["database"] == "ok"
    assert recovered[1]["status"] == "ok"


@pytest.mark.postgres
def test_readyz_follows_a_postgresql_restart_without_restarting_web(served):
    served.pg.stop()
    try:
        _, body = wait_until("/readyz says 503", lambda: (r := readyz(served.url)) and r[0] == 503 and r)
    finally:
        served.pg.start()
    wait_until("/readyz 200 again", lambda: (r := readyz(served.url)) and r[0] == 200)
    # Every web process (each has its own connection) answers ready again, by its own reconnection.
    after = [readyz(served.url)[0] for _ in range(8)]

    assert body["checks"]["database"].startswith("unavailable")
    assert body["checks"]["cache"] == "ok"
    assert after == [200] * 8
    assert served.process.poll() is None  # ./run serve kept running: nothing was restarted


@pytest.mark.postgres
@pytest.mark.browser
def test_admin_sidebar_and_api_docs_load_their_css_and_js_in_a_browser(served, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(extra_http_headers=HTTPS, viewport={"width": 1200, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": served.associate_session, "url": served.url, "secure": True}])
    page = context.new_page()
    ours: list[tuple[int, str]] = []
    page.on("response", lambda r: ours.append((r.status, r.url)) if r.url.startswith(served.url) else None)

    page.goto(f"{served.url}/admin/login/")
    header_color = page.evaluate("getComputedStyle(document.querySelector('#header')).backgroundColor")
    page.screenshot(path=str(ARTIFACTS / "serve-admin-login.png"))
    page.goto(f"{served.url}/sidebar/")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / "serve-sidebar.png"))
    # In production the API docs are for staff (omni.api_docs): the admin's session, signed in as the proxy would pass
    # it (the browser's own origin is plain http here, which an https site's CSRF check rightly refuses).
    context.clear_cookies()
    context.add_cookies([{"name": "sessionid", "value": admin_session(served), "url": served.url, "secure": True}])
    page.goto(f"{served.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    page.screenshot(path=str(ARTIFACTS / "serve-api-docs.png"))
    context.close()
    static = [(status, url) for status, url in ours if "/static/" in url]

    # (the sidebar's JS-SDK signature answers 503 here: no WeCom corp is configured, which is not this test's matter)
    assert [(status, url) for status, url in ours if status == 404] == []
    assert [(status, url) for status, url in static if status != 200] == []
    assert header_color not in ("rgba(0, 0, 0, 0)", "transparent")  # admin's base.css was applied
    assert any(url.endswith(".css") for _, url in static)
    assert any("/static/omni/sidebar." in url and url.endswith(".js") for _, url in static)
    assert any("swagger-ui-bundle" in url for _, url in static)


@pytest.mark.postgres
def test_each_role_boots_alone(served, tmp_path):
    port = free_port()
    env = {**served.env, "OMNI_PORT": str(port), "OMNI_WEB_PROCESSES": "1"}
    logs = {role: tmp_path / f"{role.replace(' ', '-')}.log" for role in _load_run().ROLES}
    processes = {role: start_serve(env, logs[role], *role.split()) for role in logs}
    ready = {
        "web": lambda: (answer := get(f"http://127.0.0.1:{port}/healthz")) is not None and answer.status_code == 200,
        "worker realtime": lambda: re.search(r"realtime@\S+ ready", logs["worker realtime"].read_text()),
        "worker bulk": lambda: re.search(r"bulk@\S+ ready", logs["worker bulk"].read_text()),
        "beat": lambda: "beat: Starting" in logs["beat"].read_text(),
    }
    try:
        for role, probe in ready.items():
            wait_until(f"{role} boots alone", probe, log=logs[role])
            assert processes[role].poll() is None, logs[role].read_text()[-3000:]
    finally:
        codes = {role: stop_serve(process) for role, process in processes.items()}

    assert codes == dict.fromkeys(logs, 0)
    assert "serving: web (" in logs["web"].read_text()


@pytest.mark.postgres
def test_sigterm_stops_every_role(served):
    code = stop_serve(served.process)

    assert code == 0
    assert get(f"{served.url}/healthz") is None  # nothing listens any more
    assert "stopped" in served.log.read_text().splitlines()[-1]
