"""`manage.py wecom_emulator` as a person starts it: every URL its banner prints answers, and Ctrl-C (then the
launcher's SIGTERM) stops it quietly with its state saved."""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from django.conf import settings as django_settings

URL = re.compile(r"https?://[\x21-\x7e]+")
WECOM_ENV = {
    "WECOM_CORP_ID": "ww0e0c0mmand000001",
    "WECOM_AGENT_ID": "1000002",
    "WECOM_SECRET": "command-test-secret",
    "WECOM_TOKEN": "CommandTestToken",
    "WECOM_ENCODING_AES_KEY": "b21uaS1kZW1vLWxvY2FsLXdlY29tLWVtdWxhdG9yISE",
}


class Started:
    """The emulator command in its own process group, with its banner and the rest of its output."""

    def __init__(self, omni_url: str, *storage: str):
        env = {**os.environ, **WECOM_ENV, "OMNI_PUBLIC_URL": omni_url, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "wecom_emulator", "--port", "0", *(storage or ["--memory"])],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.banner = self._until(lambda line: line.startswith("  企业 "), timeout=60)

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _until(self, last, *, timeout: float) -> list[str]:
        deadline, seen = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if last(line):
                return seen
        raise AssertionError("the emulator did not print its banner:\n" + "".join(seen))

    def rest(self) -> str:
        remaining = []
        while (line := self.lines.get(timeout=10)) is not None:
            remaining.append(line)
        return "".join(remaining)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def started(live_server):
    emulator = Started(live_server.url)
    yield emulator
    emulator.stop()


@pytest.mark.django_db(transaction=True)
def test_every_url_the_banner_prints_answers_a_get(started, live_server):
    urls = [url for line in started.banner for url in URL.findall(line)]
    emulator_url = URL.findall(started.banner[1])[0].rstrip("/")

    answers = {url: requests.get(url, timeout=10).status_code for url in urls}

    assert f"{emulator_url}/control/" in answers and f"{live_server.url}/" in answers
    assert len(urls) == 7
    assert answers == dict.fromkeys(urls, 200)


def test_ctrl_c_then_sigterm_stop_the_emulator_quietly_with_its_state_saved(tmp_path):
    state = tmp_path / "emulator.json"
    emulator = Started("http://127.0.0.1:9", "--state", str(state))
    try:
        os.killpg(emulator.process.pid, signal.SIGINT)  # the terminal's Ctrl-C
        time.sleep(0.3)
        os.killpg(emulator.process.pid, signal.SIGTERM)  # the launcher stopping its children, while it saves
        returncode = emulator.process.wait(timeout=30)
        output = emulator.rest()
    finally:
        emulator.stop()

    assert returncode == 0
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert output.strip() == "正在停止…"
    assert state.is_file()
