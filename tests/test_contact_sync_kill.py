"""A contacts sync survives its worker processes being killed (SIGKILL) mid-sync: real `celery worker` processes on
the bulk queue, PostgreSQL, the Redis broker of REDIS_URL, and the emulator's generated corp over HTTP (answering
slowly, and now and then -1 busy).

The pool processes are killed while associates are part-way through (some pages written, their cursor saved). Their
tasks are redelivered (acks_late, reject_on_worker_lost) and resume at the saved cursor: every associate ends with
exactly its contacts, every WeCom page counted once, one customer per person — 0 duplicate, 0 lost relation.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from associates.models import Associate, Store
from bench._servers import database_url, emulator_env, emulator_start
from clientbook.models import FollowRelation
from customers.models import Customer, Identity
from omni.celery import app
from wecom.emulator.generated import GeneratedCorp
from wecom.models import SyncPart, SyncRun
from wecom.sync import sync_start
from wecom.tasks import wecom_sync_task

pytestmark = pytest.mark.postgres
ASSOCIATES, CONTACTS = 6, 3000
PAGES = CONTACTS // 100


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):  # gone meanwhile
                continue
    return found


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.django_db(transaction=True)
def test_workers_killed_mid_sync_resume_from_the_saved_cursor_with_no_relation_lost_or_doubled(tmp_path):
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs the Redis broker of REDIS_URL")
    app.conf.task_always_eager = False
    emulator = emulator_start()
    log = tmp_path / "worker.log"
    try:
        shape = {"associates": ASSOCIATES, "contacts_per_associate": CONTACTS}
        corp = GeneratedCorp(**emulator.control("POST", "generated", shape)["generated"])
        emulator.control(
            "POST", "faults", {"latency_ms": 30, "busy_rate": 0.05, "only_apis": ["externalcontact/batch/get_by_user"]}
        )
        store = Store.objects.create(code="KILL1", name="断电门店")
        Associate.objects.bulk_create(
            Associate(wecom_userid=corp.userid(i), name=f"导购{i}", store=store) for i in range(ASSOCIATES)
        )
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("bulk")
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update(
            emulator_env(emulator),
            DATABASE_URL=database_url(),
            OMNI_DEVELOPMENT="1",
            WECOM_RETRY_BACKOFF="0.05",
            WECOM_SYNC_WINDOW="4",
        )
        command = [sys.executable, "-m", "celery", "-A", "omni", "worker", "-Q", "bulk", "-c", "2", "-l", "INFO"]
        with log.open("w") as out:
            worker = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                run = sync_start(kind=SyncRun.Kind.CONTACTS)
                wecom_sync_task.delay(run.pk)
                midway = SyncPart.objects.filter(run=run, status="running", pages__gte=5, pages__lt=PAGES - 5)
                assert _wait(midway.exists, 120), log.read_text()[-3000:]
                at_kill = dict(midway.values_list("key", "pages"))
                pool = _children(worker.pid)
                for pid in pool:
                    os.kill(pid, signal.SIGKILL)

                def finished() -> bool:
                    run.refresh_from_db()
                    return run.status != SyncRun.Status.RUNNING

                assert _wait(finished, 240), log.read_text()[-3000:]
            finally:
                worker.terminate()
                worker.wait(timeout=60)
        calls = emulator.control("GET", "calls", api="none")["totals"]
    finally:
        emulator.stop()
        app.conf.task_always_eager = True

    expected = {
        (corp.userid(i), corp.external_userid(corp.person(i, slot)))
        for i in range(ASSOCIATES)
        for slot in corp.slots(i, 0, CONTACTS)
    }
    relations = list(FollowRelation.objects.values_list("associate__wecom_userid", "external_userid"))
    output = log.read_text()
    assert len(pool) == 2
    assert at_kill
    assert "SIGKILL" in output or "signal 9" in output
    assert run.status == "done", run.error
    assert len(relations) == len(set(relations)) == ASSOCIATES * CONTACTS
    assert set(relations) == expected
    assert Customer.objects.count() == ASSOCIATES * CONTACTS
    assert Identity.objects.count() == ASSOCIATES * CONTACTS * 3 // 2  # every other person has a unionid
    # Every WeCom page counted once: a part restarted from the beginning would count its first pages twice.
    parts = list(SyncPart.objects.filter(run=run).values_list("status", "pages", "items"))
    assert parts == [("done", PAGES, CONTACTS)] * ASSOCIATES
    assert run.items == ASSOCIATES * CONTACTS
    # The killed writes were read again from their saved cursors: at most one write (5 pages) each.
    answered = calls.get("externalcontact/batch/get_by_user 0", 0)
    assert ASSOCIATES * PAGES <= answered <= ASSOCIATES * PAGES + 5 * len(pool)
