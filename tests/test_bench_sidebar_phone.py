"""bench sidebar_phone at its smallest: Omni, the emulator and a throttled phone Chromium open the sidebar once cold
and once warm, and the JSON on the last line has the times to the name and to the purchases, with the targets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.browser


def test_the_phone_bench_times_the_name_and_the_purchases_cold_and_warm(tmp_path):
    # A process of its own, as `manage.py bench` is run: its scratch database and secret key in a folder of the test's.
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL")}
    env["OMNI_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "bench", "sidebar_phone", "--runs", "1", "--customers", "20"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])

    assert figures["bench"] == "sidebar_phone"
    assert figures["profile"] == {
        "viewport": "390x844 mobile",
        "latency_ms": 150,
        "down_kbps": 1600,
        "up_kbps": 750,
        "cpu_slowdown": 4,
    }
    for kind, target in (("cold", 1200), ("warm", 800)):
        visit = figures[kind]
        # Every visit crosses the throttled network at least twice (the page, then the customer): ≥ 300 ms.
        assert 300 <= visit["name_ms"]["median"] <= visit["name_ms"]["p90"] < 30_000
        assert 300 <= visit["purchases_ms"]["median"] <= visit["purchases_ms"]["p90"] < 30_000
        assert visit["name_ms"]["target_median"] == visit["purchases_ms"]["target_median"] == target
        assert visit["requests"]["median"] >= 2 and visit["bytes"]["median"] > 0
    assert figures["cold"]["bytes"]["median"] > figures["warm"]["bytes"]["median"]
