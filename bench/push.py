"""A campaign to 100,000 customers across 100 associates: from approval to every WeCom mass-message task created.

Targets (this 2-core machine, PostgreSQL + Redis broker): issue 8, 100,000 recipients ≤ 30 s; issue 22,
`--recipients 1000000` ≤ 90 s (100 chunks of 10,000, one per associate); both with zero duplicates, zero missing
recipients and flat worker memory (each worker process's RSS at start and at the end is reported: the audience is
resolved set-based in SQL and a chunk holds at most 10,000 recipients, so neither grows with the campaign).

The emulator runs in this process; Celery workers run as separate processes on the bulk queue, against the
scratch database and the Redis broker of REDIS_URL. The clock starts when the campaign is approved and its send
task queued (what the beat tick does when the send time has come), and stops when every chunk is created. Then
the emulator's tasks are counted: each customer must be a target of exactly one task.
"""

import os
import time
from collections import Counter
from collections.abc import Callable

from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from associates.models import Associate, Store
from bench._servers import bench_emulator, database_url, omni_process, worker_cmd
from campaigns.models import Campaign, CampaignChunk, CampaignRecipient
from campaigns.services import campaign_approve, campaign_submit, campaigns_due
from campaigns.tasks import campaign_send_task
from wecom.emulator.state import relation_key

CUSTOMERS, STORES, ASSOCIATES_PER_STORE = 100_000, 10, 10
WORKER_CONCURRENCY = 2
TARGET_SECONDS = 30  # issue 8: 100,000 recipients
TARGET_SECONDS_1M, LARGE = 90, 1_000_000  # issue 22: 1,000,000 recipients
# Flat worker memory: no worker process may end more than this above its RSS at the start.
TARGET_WORKER_RSS_GROWTH_MB = 100
TIMEOUT_SECONDS = 600


def add_arguments(parser) -> None:
    parser.add_argument("--recipients", type=int, help="Recipients of the campaign (default 100,000 × scale).")


def run(
    *, scale: float, log: Callable[[str], None], customers: int | None = None, recipients: int | None = None
) -> dict:
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        raise CommandError("bench push measures PostgreSQL with a Redis broker: set DATABASE_URL and REDIS_URL")
    size = recipients or customers or max(1000, int(CUSTOMERS * scale))
    target = TARGET_SECONDS_1M if size >= LARGE else TARGET_SECONDS
    with bench_emulator() as (emulator, wecom):
        campaign = _seed(size, emulator, log)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        with omni_process(
            worker_cmd("bulk", WORKER_CONCURRENCY), database_url=database_url(), extra_env=wecom
        ) as worker:
            time.sleep(3)  # let the worker connect to the broker before the clock starts
            for _ in range(120):  # and fork its pool, whose processes are measured
                if len(_worker_rss(worker.pid)) > WORKER_CONCURRENCY:
                    break
                time.sleep(0.5)
            rss_start = _worker_rss(worker.pid)
            seconds = _send(campaign, log)
            rss_end = _worker_rss(worker.pid)
        figures = _count(campaign, emulator, size)
    workers = {
        pid: {
            "rss_start_mb": rss_start.get(pid, {}).get("rss"),
            "rss_end_mb": end["rss"],
            "peak_rss_mb": end["peak"],
        }
        for pid, end in rss_end.items()
    }
    # A process not there at the start (a pool process replaced) counts from nothing: its whole RSS is growth.
    growth = max((w["rss_end_mb"] - (w["rss_start_mb"] or 0) for w in workers.values()), default=None)
    return {
        "machine": {"cpus": os.cpu_count()},
        "recipients": size,
        "associates": STORES * ASSOCIATES_PER_STORE,
        "worker_concurrency": WORKER_CONCURRENCY,
        "seconds_approval_to_all_tasks_created": seconds,
        **figures,
        "worker_rss_mb": workers,
        "worker_rss_growth_max_mb": round(growth, 1) if growth is not None else None,
        "target_seconds": target,
        "target_worker_rss_growth_mb": TARGET_WORKER_RSS_GROWTH_MB,
        "meets_target": seconds is not None
        and seconds <= target
        and figures["duplicates"] == 0
        and figures["missing"] == 0
        and growth is not None
        and growth <= TARGET_WORKER_RSS_GROWTH_MB,
    }


def _worker_rss(pid: int) -> dict[int, dict[str, float]]:
    """RSS and peak RSS (MB) of the Celery worker's main process and its pool processes (Linux /proc)."""
    pids = [pid]
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:  # field 4, after the command's name
                    pids.append(int(entry))
        except (FileNotFoundError, ProcessLookupError):
            continue
    figures = {}
    for each in pids:
        try:
            with open(f"/proc/{each}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except FileNotFoundError:  # a pool process replaced meanwhile
            continue
        figures[each] = {
            "rss": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "peak": round(int(fields["VmHWM"].split()[0]) / 1024, 1),
        }
    return figures


def _external_userid(n: int) -> str:
    return f"wm{n:030d}"


def _seed(size: int, emulator, log) -> Campaign:
    started = time.perf_counter()
    stores = Store.objects.bulk_create(Store(code=f"PS{n:02d}", name=f"基准门店{n}") for n in range(STORES))
    staff = Associate.objects.bulk_create(
        Associate(wecom_userid=f"push{s.pk}-{n}", name=f"导购{s.pk}-{n}", store=s)
        for s in stores
        for n in range(ASSOCIATES_PER_STORE)
    )
    now = timezone.now()
    ids, store_ids = [a.pk for a in staff], [a.store_id for a in staff]
    with connection.cursor() as cursor:
        # Generated in the database (a million rows in seconds): customer n belongs to associate n % 100.
        cursor.execute(
            "INSERT INTO customers_customer (id, name, gender, phone, primary_store_id, primary_associate_id, "
            "marketing_consent, opted_out, created_at, updated_at) "
            "SELECT n, '顾客' || n, 'unknown', '', (%s::bigint[])[n %% %s + 1], (%s::bigint[])[n %% %s + 1], "
            "true, false, %s, %s FROM generate_series(1, %s) n",
            [store_ids, len(staff), ids, len(staff), now, now, size],
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), %s)", [size])
        cursor.execute(
            "INSERT INTO associates_followrelation (associate_id, customer_id, external_userid, state, remark, "
            "followed_at, ended_reason, welcome) "
            "SELECT (%s::bigint[])[n %% %s + 1], n, 'wm' || lpad(n::text, 30, '0'), '', '', %s, '', 'none' "
            "FROM generate_series(1, %s) n",
            [ids, len(staff), now, size],
        )
    with emulator.emulator.state.change() as data:
        for a in staff:
            data["associates"][a.wecom_userid] = {
                "userid": a.wecom_userid,
                "name": a.name,
                "store": "",
                "resigned": False,
                "created_at": 0,
            }
        for n in range(1, size + 1):
            userid, eu = staff[n % len(staff)].wecom_userid, _external_userid(n)
            data["customers"][eu] = {"external_userid": eu, "name": eu, "type": 1, "gender": 0, "avatar": ""}
            data["relations"][relation_key(userid, eu)] = {
                "userid": userid,
                "external_userid": eu,
                "createtime": 1,
                "tag_ids": [],
                "state": "",
            }
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    creator = users.create_user("push-creator", is_staff=True)
    approver = users.create_user("push-approver", is_staff=True, is_superuser=True)
    for store in stores:
        store.managers.add(creator)
    campaign = Campaign.objects.create(name="基准群发", text="会员日到店有礼", send_at=now, created_by=creator)
    campaign.stores.set(stores)
    campaign_submit(campaign_id=campaign.pk, user=creator)
    campaign.approver = approver
    log(f"{size:,} customers, {len(staff)} associates seeded in {time.perf_counter() - started:.1f}s")
    return campaign


def _send(campaign: Campaign, log) -> float | None:
    started = time.perf_counter()
    campaign_approve(campaign_id=campaign.pk, user=campaign.approver)
    for campaign_id in campaigns_due():
        campaign_send_task.delay(campaign_id)
    deadline = started + TIMEOUT_SECONDS
    resolved_after = None
    while time.perf_counter() < deadline:
        resolved = Campaign.objects.filter(pk=campaign.pk, resolved_at__isnull=False).exists()
        if resolved and resolved_after is None:
            resolved_after = time.perf_counter() - started
            log(f"audience resolved after {resolved_after:.1f}s")
        open_chunks = CampaignChunk.objects.filter(campaign=campaign, status__in=["pending", "creating"]).count()
        if resolved and not open_chunks:
            seconds = round(time.perf_counter() - started, 2)
            log(f"all WeCom tasks created in {seconds}s")
            return seconds
        time.sleep(0.2)
    log("timed out")
    return None


def _count(campaign: Campaign, emulator, size: int) -> dict:
    with emulator.emulator.state.lock:
        messages = list(emulator.emulator.state.data["mass_messages"].values())
        targets = Counter(t for m in messages for task in m["tasks"].values() for t in task["results"])
    expected = {_external_userid(n) for n in range(1, size + 1)}
    chunks = Counter(CampaignChunk.objects.filter(campaign=campaign).values_list("status", flat=True))
    return {
        "wecom_tasks": len(messages),
        "chunks": dict(chunks),
        "recipients_awaiting_confirmation": CampaignRecipient.objects.filter(
            campaign=campaign, status="awaiting"
        ).count(),
        "duplicates": sum(n - 1 for n in targets.values() if n > 1) + max(0, len(messages) - sum(chunks.values())),
        "missing": len(expected - set(targets)),
        "campaign_status": Campaign.objects.get(pk=campaign.pk).status,
    }
