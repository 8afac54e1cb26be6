"""Real Celery workers: the embedded default's filesystem broker and Redis both carry a task end to end.

These tests start `manage.py` and `celery worker` as separate processes against their own database,
exactly as `./run demo` does, and watch the database for the task's effect.
"""

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
CSV = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID\n" + "".join(
    f"5{n:05d},SKU{n % 7},Item {n % 7},{1 + n % 3},2011-01-0{1 + n % 9} 10:00,{n % 5 + 1}.25,{12000 + n % 11}\n"
    for n in range(60)
)


def _env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(OMNI_VAR_DIR=str(var_dir), **extra)
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _wait_for(fetch, *, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(0.5)
    return fetch()


def _run_import_through_worker(env: dict[str, str], csv_path: Path, fetch_job):
    _manage(env, "migrate", "--no-input", "-v", "0")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "omni", "worker", "-Q", "bulk", "--pool", "solo", "-l", "INFO"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        queued = _manage(env, "import_orders", str(csv_path), "--background", "--tz", "Europe/London")
        assert "Queued" in queued
        return _wait_for(fetch_job)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
        print(output[-3000:])


def test_the_embedded_default_runs_a_real_worker_without_any_server(tmp_path):
    var_dir = tmp_path / "var"
    csv_path = tmp_path / "orders.csv"
    csv_path.write_text(CSV)

    def fetch_job():
        database = var_dir / "omni.sqlite3"
        if not database.exists():
            return None
        with sqlite3.connect(database) as db:
            try:
                row = db.execute("SELECT status, rows_done FROM customers_importjob").fetchone()
            except sqlite3.OperationalError:  # tables not migrated yet
                return None
        return row if row and row[0] == "done" else None

    job = _run_import_through_worker(_env(var_dir), csv_path, fetch_job)

    assert job == ("done", 60)
    with sqlite3.connect(var_dir / "omni.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM customers_orderline").fetchone() == (60,)


@pytest.mark.postgres
def test_postgres_and_redis_run_a_real_worker(tmp_path):
    import psycopg

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    name = f"omni_worker_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    csv_path = tmp_path / "orders.csv"
    csv_path.write_text(CSV)
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    env = _env(tmp_path / "var", DATABASE_URL=f"{base}/{name}", REDIS_URL=redis_url)

    def fetch_job():
        with psycopg.connect(f"{base}/{name}") as db:
            row = db.execute("SELECT status, rows_done FROM customers_importjob").fetchone()
            lines = db.execute("SELECT COUNT(*) FROM customers_orderline").fetchone()[0]
        return (*row, lines) if row and row[0] == "done" else None

    try:
        job = _run_import_through_worker(env, csv_path, fetch_job)
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    assert job == ("done", 60, 60)
