"""Welcome messages while a 100,000-recipient campaign is being pushed: the real-time queue against a bulk backlog.

Target (issue 21): a new customer's welcome message reaches WeCom within its 20 s while the push runs.

The campaign of `bench push` (100,000 customers, 100 associates) is approved and its send task queued on the bulk
queue (it resolves the audience, then fans out one task per chunk); from then until the last chunk is created, a new
customer adds an associate in the emulator every WELCOME_EVERY seconds (at most WELCOMES), and the emulator's own
add_external_contact callback goes to Omni (uWSGI with uwsgi.ini) as WeCom's would. Measured per welcome: the time
from the add to the emulator accepting send_welcome_msg with that welcome code, and the share of the campaign's chunks
created at the add (0 while the audience is still being resolved). By default a real-time worker and a bulk worker
run as separate processes (as production runs them); `--shared-worker` runs one worker on both queues with their
concurrencies added, to show the difference.
The machine's idle CPU over the 5 s before the run is reported: other load skews every figure.
"""

import os
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack

from django.core.management.base import CommandError
from django.db import connection

from associates.models import Associate, Store
from bench import push
from bench._machine import cpu_idle_share
from bench._servers import (
    bench_emulator,
    database_url,
    free_port,
    omni_process,
    wait_until_up,
    web_cmd,
    worker_cmd,
)
from campaigns.models import Campaign, CampaignChunk
from campaigns.services import campaign_approve, campaigns_due
from campaigns.tasks import campaign_send_task

WELCOME_ASSOCIATE = "welcome_assoc"
WELCOMES, WELCOME_EVERY, WELCOME_WINDOW_SECONDS = 30, 1.0, 20
REALTIME_CONCURRENCY, BULK_CONCURRENCY, WEB_WORKERS = 2, 2, 2
TIMEOUT_SECONDS = 300


def add_arguments(parser) -> None:
    parser.add_argument(
        "--shared-worker",
        action="store_true",
        help="One worker on both queues instead of a real-time and a bulk worker apart.",
    )
    parser.add_argument("--realtime-concurrency", type=int, help="Real-time worker processes.")
    parser.add_argument("--bulk-concurrency", type=int, help="Bulk worker processes.")


def run(
    *,
    scale: float,
    log: Callable[[str], None],
    customers: int | None = None,
    shared_worker: bool = False,
    realtime_concurrency: int = REALTIME_CONCURRENCY,
    bulk_concurrency: int = BULK_CONCURRENCY,
) -> dict:
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        raise CommandError("bench welcome_during_push measures PostgreSQL with a Redis broker: set both URLs")
    processes = [realtime_concurrency + bulk_concurrency] if shared_worker else [realtime_concurrency, bulk_concurrency]
    if min(processes) < 1:
        raise CommandError("each worker needs at least one process (the shared one: the two concurrencies added)")
    size = customers or max(1000, int(push.CUSTOMERS * scale))
    idle = round(100 * cpu_idle_share(5), 1)
    log(f"machine idle {idle}% over 5 s")
    with bench_emulator() as (emulator, wecom):
        campaign = push._seed(size, emulator, log)
        store = Store.objects.create(code="WELCOME", name="欢迎语门店")
        Associate.objects.create(store=store, wecom_userid=WELCOME_ASSOCIATE, name="欢迎语导购")
        emulator.control(
            "POST", "associates", {"userid": WELCOME_ASSOCIATE, "name": "欢迎语导购", "store": "欢迎语门店"}
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        url = database_url()
        if shared_worker:
            workers = [worker_cmd("realtime,bulk", realtime_concurrency + bulk_concurrency)]
        else:
            workers = [worker_cmd("realtime", realtime_concurrency), worker_cmd("bulk", bulk_concurrency)]
        with ExitStack() as processes:
            processes.enter_context(
                omni_process(web_cmd(port := free_port(), WEB_WORKERS), database_url=url, extra_env=wecom)
            )
            for command in workers:
                processes.enter_context(omni_process(command, database_url=url, extra_env=wecom))
            wait_until_up(port)
            emulator.control("POST", "config", {"callback_url": f"http://127.0.0.1:{port}/wecom/callback/"})
            time.sleep(3)  # let the workers connect to the broker before the clock starts
            figures = _push_with_welcomes(campaign, emulator, log)
    return {
        "machine": {"cpus": os.cpu_count(), "idle_cpu_percent_5s_before": idle},
        "recipients": size,
        "workers": "one shared worker -Q realtime,bulk" if shared_worker else "realtime and bulk workers apart",
        "realtime_concurrency": realtime_concurrency,
        "bulk_concurrency": bulk_concurrency,
        **figures,
        "target_seconds": WELCOME_WINDOW_SECONDS,
        "meets_target": figures["welcomes_delivered"] == figures["welcomes"]
        and figures["welcome_max_s"] is not None
        and figures["welcome_max_s"] <= WELCOME_WINDOW_SECONDS,
    }


def _push_progress(campaign: Campaign) -> tuple[int, int]:
    statuses = list(CampaignChunk.objects.filter(campaign=campaign).values_list("status", flat=True))
    return sum(status not in ("pending", "creating") for status in statuses), len(statuses)


def _push_with_welcomes(campaign: Campaign, emulator, log) -> dict:
    started = time.perf_counter()
    campaign_approve(campaign_id=campaign.pk, user=campaign.approver)
    for campaign_id in campaigns_due():
        campaign_send_task.delay(campaign_id)
    deadline = started + TIMEOUT_SECONDS
    state = emulator.emulator.state
    welcomes: list[dict] = []
    push_seconds = None
    next_welcome = time.perf_counter()
    while time.perf_counter() < deadline:
        now = time.perf_counter()
        done, total = _push_progress(campaign)
        resolved = Campaign.objects.filter(pk=campaign.pk, resolved_at__isnull=False).exists()
        if push_seconds is None and resolved and done == total:
            push_seconds = round(now - started, 2)
            log(f"push: all {total} chunks created in {push_seconds}s")
        if push_seconds is None and len(welcomes) < WELCOMES and now >= next_welcome:
            person = emulator.control("POST", "customers", {"name": f"新客户{len(welcomes)}", "gender": 1})
            added_at = time.perf_counter()
            added = emulator.control(
                "POST", "contacts/add", {"external_userid": person["external_userid"], "userid": WELCOME_ASSOCIATE}
            )
            progress = round(done / total, 3) if total else 0.0
            welcomes.append({"code": added["welcome_code"], "added_at": added_at, "progress": progress, "at": None})
            next_welcome = added_at + WELCOME_EVERY
        with state.lock:
            for welcome in welcomes:
                if welcome["at"] is None and state.data["welcome_codes"][welcome["code"]]["used"]:
                    welcome["at"] = time.perf_counter()
        window = WELCOME_WINDOW_SECONDS + 5
        waiting = any(w["at"] is None and time.perf_counter() - w["added_at"] < window for w in welcomes)
        if push_seconds is not None and not waiting:
            break
        time.sleep(0.05)
    waits = sorted(round(w["at"] - w["added_at"], 2) for w in welcomes if w["at"] is not None)
    log(f"welcomes: {len(waits)} of {len(welcomes)} delivered, waits {waits}")
    return {
        "push_seconds_approval_to_all_tasks_created": push_seconds,
        "welcomes": len(welcomes),
        "welcomes_delivered": len(waits),
        "welcome_p50_s": round(statistics.median(waits), 2) if waits else None,
        "welcome_max_s": waits[-1] if waits else None,
        "welcome_waits_s": [round(w["at"] - w["added_at"], 2) if w["at"] else None for w in welcomes],
        "push_progress_at_each_welcome": [w["progress"] for w in welcomes],
        "chunks": _push_progress(campaign)[1],
    }
