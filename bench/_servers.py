"""Processes benchmarks start: Omni's web server (uWSGI with the production uwsgi.ini) and a Celery worker on a given
database, and free ports."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from django.conf import settings

from wecom.emulator.config import EmulatorConfig
from wecom.emulator.server import RunningEmulator, start_emulator

# The benchmarks' WeCom corp, in the local emulator.
CORP_ID, AGENT_ID, SECRET = "wwbenchcorp0000001", "1000002", "bench-secret"
TOKEN, AES_KEY = "BenchToken", "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE"


@contextmanager
def omni_process(command: list[str], *, database_url: str, extra_env: dict | None = None):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # Production's code paths, not a deployment (omni.settings): the scratch database's own key, cookies over the
    # benchmark's plain HTTP.
    env.update(extra_env or {}, DATABASE_URL=database_url, DJANGO_ALLOWED_HOSTS="127.0.0.1", OMNI_DEVELOPMENT="1")
    child = subprocess.Popen(command, cwd=Path(settings.BASE_DIR), env=env)
    try:
        yield child
    finally:
        child.terminate()
        child.wait(timeout=60)


def web_cmd(port: int, workers: int) -> list[str]:
    return [
        str(Path(sys.executable).parent / "uwsgi"),
        "--ini",
        str(Path(settings.BASE_DIR) / "uwsgi.ini"),
        "--http-socket",
        f"127.0.0.1:{port}",
        "--processes",
        str(workers),
    ]


def worker_cmd(queue: str, concurrency: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "omni",
        "worker",
        "-Q",
        queue,
        "-c",
        str(concurrency),
        "-l",
        "WARNING",
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(port: int, path: str = "/wecom/callback/") -> None:
    for _ in range(150):
        try:
            requests.get(f"http://127.0.0.1:{port}{path}", timeout=2)
            return
        except requests.RequestException:  # not listening yet, or workers still booting
            time.sleep(0.1)
    raise RuntimeError("the web server did not start")


def database_url() -> str:
    """The URL of the database Django is connected to, for the processes a benchmark starts."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def emulator_start() -> RunningEmulator:
    """A local WeCom emulator in this process for the bench corp (callbacks go nowhere)."""
    return start_emulator(
        EmulatorConfig(
            corp_id=CORP_ID,
            agent_id=AGENT_ID,
            secret=SECRET,
            token=TOKEN,
            encoding_aes_key=AES_KEY,
            callback_url="http://127.0.0.1:9/unused",
            sidebar_url="http://127.0.0.1:9/unused",
        )
    )


def emulator_env(emulator: RunningEmulator) -> dict[str, str]:
    """Omni's WeCom settings pointed at `emulator`, as the environment of the processes a benchmark starts."""
    return {
        "WECOM_API_BASE": emulator.api_base,
        "WECOM_CORP_ID": CORP_ID,
        "WECOM_AGENT_ID": AGENT_ID,
        "WECOM_SECRET": SECRET,
        "WECOM_TOKEN": TOKEN,
        "WECOM_ENCODING_AES_KEY": AES_KEY,
    }


@contextmanager
def bench_emulator() -> Iterator[tuple[RunningEmulator, dict[str, str]]]:
    """A local WeCom emulator in this process, with Omni's WeCom settings pointed at it; yields the emulator and
    those settings, as the environment for the web and worker processes a benchmark starts."""
    emulator = emulator_start()
    wecom = emulator_env(emulator)
    for name, value in wecom.items():
        setattr(settings, name, value)
    try:
        yield emulator, wecom
    finally:
        emulator.stop()
