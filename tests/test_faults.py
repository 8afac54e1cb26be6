"""Faults Omni survives, on real PostgreSQL and Redis servers that the tests stop and restart (issue 21).

Each test runs Omni as production does — uWSGI with uwsgi.ini, Celery workers and beat as separate processes, in
production mode (DJANGO_DEBUG=false, a secret key and allowed hosts in the environment) — against a private
PostgreSQL cluster and a private Redis (tests/servers.py), never the machine's own servers. WeCom is the local
emulator, whose callbacks reach Omni with WeCom's real encryption. What each test shows:

- Redis stopped for 60 s while customers add an associate: every callback is answered 200 at the first attempt and
  stored in PostgreSQL (its queueing fails fast and is noted on the event); the sidebar keeps serving an associate
  (the cache reads as a miss, the session comes from the database); once Redis is back the requeue job (beat, every
  minute) queues the noted events and each is processed exactly once.
- PostgreSQL restarted while a worker processes a batch of callback events: the tasks hit by the restart retry
  (omni.retry) and every event is processed exactly once.
- Restore drill: the demo brand seeded, dumped with pg_dump, restored with pg_restore into a new database:
  check_integrity passes there and every table has the same number of rows.

PostgreSQL only (the faults are PostgreSQL's and Redis's); they take about three minutes, most of it the 60 s outage
and the wait for the next minute's requeue run.
"""

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.servers import PrivatePostgres, PrivateRedis, free_port, private_postgres, private_redis, wait_for_port
from wecom.emulator.config import EmulatorConfig
from wecom.emulator.server import RunningEmulator, start_emulator
from wecom.services import NOT_QUEUED

pytestmark = pytest.mark.postgres

ROOT = Path(settings.BASE_DIR)
CORP_ID, AGENT_ID, SECRET = "wwfaultcorp0000001", "1000002", "fault-secret"
TOKEN, AES_KEY = "FaultToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"
ASSOCIATE = "fault_assoc"
OUTAGE_SECONDS, OUTAGE_CALLBACKS = 60, 30


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


def _env(tmp_path: Path, *, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        OMNI_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(40),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        WECOM_CORP_ID=CORP_ID,
        WECOM_AGENT_ID=AGENT_ID,
        WECOM_SECRET=SECRET,
        WECOM_TOKEN=TOKEN,
        WECOM_ENCODING_AES_KEY=AES_KEY,
        WECOM_RETRY_BACKOFF="0.01",
        **extra,
    )
    return env


def _manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("w") as out:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield child
        finally:
            child.terminate()
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _web(port: int) -> list[str]:
    uwsgi = str(Path(sys.executable).parent / "uwsgi")
    return [uwsgi, "--ini", str(ROOT / "uwsgi.ini"), "--http-socket", f"127.0.0.1:{port}", "--processes", "2"]


def _worker(queues: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "omni", "worker", "-Q", queues, "-c", "2", "-l", "INFO"]


def _beat(var_dir: Path) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "omni", "beat", "-l", "INFO", "-s", str(var_dir / "beat-schedule")]


@contextmanager
def _emulator(omni_port: int, env: dict[str, str]) -> Iterator[RunningEmulator]:
    """The emulator, sending callbacks to Omni on `omni_port`; `env` (the processes' environment) is pointed at it."""
    running = start_emulator(
        EmulatorConfig(
            corp_id=CORP_ID,
            agent_id=AGENT_ID,
            secret=SECRET,
            token=TOKEN,
            encoding_aes_key=AES_KEY,
            callback_url=f"http://127.0.0.1:{omni_port}/wecom/callback/",
            sidebar_url=f"http://127.0.0.1:{omni_port}/sidebar/",
        )
    )
    env["WECOM_API_BASE"] = running.api_base
    try:
        running.control("POST", "associates", {"userid": ASSOCIATE, "name": "故障导购", "store": "故障门店"})
        yield running
    finally:
        running.stop()


# The store, the associate, and a signed-in associate's session (as the OAuth sign-in leaves it); prints its key.
SEED = f"""
from django.contrib.sessions.backends.cached_db import SessionStore
from associates.auth import SESSION_KEY
from associates.models import Associate, Store
store = Store.objects.create(code="FAULT", name="故障门店")
associate = Associate.objects.create(store=store, wecom_userid="{ASSOCIATE}", name="故障导购")
session = SessionStore()
session[SESSION_KEY] = associate.pk
session.create()
print(session.session_key)
"""


def _fresh_database(pg: PrivatePostgres, tmp_path: Path, redis_url: str) -> tuple[str, dict]:
    """A new migrated database: its name and the processes' environment."""
    name = f"omni_{secrets.token_hex(4)}"
    env = _env(tmp_path, database_url=pg.createdb(name), redis_url=redis_url)
    _manage(env, "migrate", "--no-input", "-v", "0")
    return name, env


def _seed_associate(env: dict) -> str:
    """The associate signed in; returns the session's key."""
    return _manage(env, "shell", "-c", SEED).strip().splitlines()[-1]


def _wait_until_serving(port: int) -> None:
    """uWSGI's socket opens before its workers have loaded Django: wait for an answer, not for the port."""
    wait_for_port(port)
    assert _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/wecom/callback/"), seconds=60)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code < 500
    except requests.RequestException:
        return False


def _customer_adds_associate(emulator: RunningEmulator, n: int) -> str:
    person = emulator.control("POST", "customers", {"name": f"故障客户{n}", "gender": 1})
    emulator.control("POST", "contacts/add", {"external_userid": person["external_userid"], "userid": ASSOCIATE})
    return person["external_userid"]


def _wait_for(check: Callable[[], bool], *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return check()


def _events(pg: PrivatePostgres, database: str) -> dict[str, int]:
    """Callback events by status and error note, e.g. {"done": 31} or {"pending:not queued…": 3}."""
    rows = pg.psql(
        database,
        "SELECT status || CASE WHEN error = '' THEN '' ELSE ':' || error END, count(*) "
        "FROM wecom_callbackevent GROUP BY 1",
    )
    return {line.rsplit("|", 1)[0]: int(line.rsplit("|", 1)[1]) for line in rows.splitlines() if line}


def _int(pg: PrivatePostgres, database: str, sql: str) -> int:
    return int(pg.psql(database, sql))


def test_redis_stopped_for_a_minute_loses_no_callback_and_the_sidebar_keeps_serving(pg, redis, tmp_path):
    port = free_port()
    database, env = _fresh_database(pg, tmp_path, redis.url(0))
    session_key = _seed_associate(env)
    _manage(env, "collectstatic", "--no-input", "-v", "0")  # production serves collected static files
    sidebar = requests.Session()
    sidebar.cookies.set(settings.SESSION_COOKIE_NAME, session_key)
    with (
        _emulator(port, env) as emulator,
        _process(_web(port), env, tmp_path / "web.log"),
        _process(_worker("realtime,bulk"), env, tmp_path / "worker.log"),
        _process(_beat(tmp_path / "var"), env, tmp_path / "beat.log"),
    ):
        _wait_until_serving(port)
        customers = [_customer_adds_associate(emulator, 0)]
        assert _wait_for(lambda: _events(pg, database) == {"done": 1}, seconds=60), _events(pg, database)

        redis.stop()
        outage_started = time.monotonic()
        sidebar_statuses = []
        for n in range(1, OUTAGE_CALLBACKS + 1):
            customers.append(_customer_adds_associate(emulator, n))
            sidebar_statuses.append(sidebar.get(f"http://127.0.0.1:{port}/sidebar/", timeout=10).status_code)
            time.sleep(max(0.0, outage_started + n * OUTAGE_SECONDS / OUTAGE_CALLBACKS - time.monotonic()))
        assert emulator.emulator.callbacks.wait_idle(timeout=30)
        during_outage = _events(pg, database)
        redis.start()

        recovered = _wait_for(lambda: _events(pg, database) == {"done": 1 + OUTAGE_CALLBACKS}, seconds=150)
        # The web processes publish again by themselves: the next callback is queued at once, not noted.
        customers.append(_customer_adds_associate(emulator, OUTAGE_CALLBACKS + 1))
        after = _wait_for(lambda: _events(pg, database) == {"done": 2 + OUTAGE_CALLBACKS}, seconds=30)
        deliveries = emulator.control("GET", "deliveries")["deliveries"]
    last_event = _int(pg, database, "SELECT max(id) FROM wecom_callbackevent")

    assert sidebar_statuses == [200] * OUTAGE_CALLBACKS
    assert [[attempt["http_status"] for attempt in d["attempts"]] for d in deliveries] == [[200]] * len(customers)
    assert during_outage == {"done": 1, f"pending:{NOT_QUEUED}": OUTAGE_CALLBACKS}
    assert recovered, _events(pg, database)
    assert after, _events(pg, database)
    assert f"event {last_event} stored, but not queued" not in (tmp_path / "web.log").read_text()
    # Exactly once: one processing run per event, one friendship per customer.
    assert _int(pg, database, "SELECT count(*) FROM wecom_callbackevent WHERE attempts = 1") == len(customers)
    follows = pg.psql(database, "SELECT external_userid FROM associates_followrelation ORDER BY external_userid")
    assert follows.splitlines() == sorted(customers)


def test_postgres_restarted_while_a_worker_runs_loses_no_task(pg, redis, tmp_path):
    port, events = free_port(), 120
    database, env = _fresh_database(pg, tmp_path, redis.url(0))
    _seed_associate(env)
    with _emulator(port, env) as emulator, _process(_web(port), env, tmp_path / "web.log"):
        _wait_until_serving(port)
        customers = [_customer_adds_associate(emulator, n) for n in range(events)]
        assert emulator.emulator.callbacks.wait_idle(timeout=120)
        assert _events(pg, database) == {"pending": events}  # stored and queued; no worker yet

        with _process(_worker("realtime"), env, tmp_path / "worker.log"):
            assert _wait_for(lambda: _events(pg, database).get("done", 0) >= events // 5, seconds=120)
            pg.restart()
            restarted_with_done = _events(pg, database).get("done", 0)
            recovered = _wait_for(lambda: _events(pg, database) == {"done": events}, seconds=180)
        worker_log = (tmp_path / "worker.log").read_text()

    assert restarted_with_done < events  # the restart came while work was left
    assert recovered, _events(pg, database)
    # Tasks the restart cut off were retried, not dropped.
    assert re.search(r"retry: Retry in \d+s: (OperationalError|InterfaceError)", worker_log)
    assert _int(pg, database, "SELECT count(*) FROM wecom_callbackevent WHERE attempts = 1") == events
    follows = pg.psql(database, "SELECT external_userid FROM associates_followrelation ORDER BY external_userid")
    assert follows.splitlines() == sorted(customers)


# Every table's exact row count, as "table=count,…" in table order.
TABLE_COUNTS = """
SELECT string_agg(table_name || '=' || (xpath('/row/n/text()', query_to_xml(
    format('SELECT count(*) AS n FROM %I', table_name), false, true, '')))[1]::text, ',' ORDER BY table_name)
FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
"""


def test_restore_drill_dump_restore_and_check_integrity(pg, redis, tmp_path):
    demo, env = _fresh_database(pg, tmp_path, redis.url(0))
    _manage(env, "seed_demo", "--customers", "300", "-v", "0")
    dump = tmp_path / "demo.dump"
    connect = ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres"]
    subprocess.run([str(pg.bin_dir / "pg_dump"), *connect, "-Fc", "-f", str(dump), demo], check=True)

    restored = f"{demo}_restored"
    pg.createdb(restored)
    subprocess.run(
        [str(pg.bin_dir / "pg_restore"), *connect, "--no-owner", "--exit-on-error", "-d", restored, str(dump)],
        check=True,
    )
    checked = _manage({**env, "DATABASE_URL": pg.url(restored)}, "check_integrity")

    assert "integrity checks passed" in checked
    counts = pg.psql(demo, TABLE_COUNTS)
    assert pg.psql(restored, TABLE_COUNTS) == counts
    assert int(dict(pair.split("=") for pair in counts.split(","))["customers_customer"]) == 300
