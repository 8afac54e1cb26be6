"""Test configuration: the database is SQLite by default and PostgreSQL when DATABASE_URL is set; tests that need
something the machine may not have (PostgreSQL, a browser) are skipped with a reason, and the run ends with one line
per reason."""

from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

CHROMIUM = Path("/usr/bin/chromium")  # Debian's, never a downloaded browser
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# Debian's fonts-noto-cjk: without it Chromium draws Chinese as empty boxes and the screenshots show nothing.
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
# The marker that makes a skip, and the noun that counts such skips in the closing lines.
SKIP_KINDS = {"browser": "browser", "postgres": "PostgreSQL"}


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    skips = {}
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        skips["postgres"] = pytest.mark.skip(
            reason="set DATABASE_URL=postgres://… (./run test then runs the suite on PostgreSQL too)"
        )
    if not (CHROMIUM.exists() and NOTO_CJK.exists()):
        skips["browser"] = pytest.mark.skip(reason="install Debian's chromium and fonts-noto-cjk")
    for item in items:
        for marker, skip in skips.items():
            if marker in item.keywords:
                item.add_marker(skip)
                break


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line per reason a test was skipped, e.g. "10 browser tests skipped: install Debian's chromium …"."""
    reasons = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        kind = next((noun for marker, noun in SKIP_KINDS.items() if marker in report.keywords), "")
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reasons[kind, reason.removeprefix("Skipped: ")] += 1
    if not reasons:
        return
    terminalreporter.write_sep("-", "skipped, by reason")
    for (kind, reason), count in sorted(reasons.items(), key=lambda entry: (-entry[1], entry[0])):
        noun = " ".join(filter(None, [kind, "test" if count == 1 else "tests"]))
        terminalreporter.write_line(f"{count} {noun} skipped: {reason}")


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _celery_in_process():
    """Tasks run inline in tests; the real-worker tests start their own worker processes."""
    from omni.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _suggestion_caches_fresh():
    """The suggestion model and sellable products are cached per process; each test has its own database."""
    from suggestions.selectors import suggestion_caches_clear

    suggestion_caches_clear()
    yield
    suggestion_caches_clear()


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium driven by Playwright, for the tests marked `browser`."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(autouse=True)
def _throttles_fresh(monkeypatch):
    """Throttle histories live in the cache, which outlives a test on Redis: each test counts under its own keys."""
    import uuid

    from omni import throttling

    monkeypatch.setattr(throttling, "KEY_PREFIX", f"throttle-test-{uuid.uuid4().hex}")
