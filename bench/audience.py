"""A campaign's audience of 1,000,000 customers resolved into recipients and chunks, set-based in SQL.

Targets (issue 22, this 2-core machine, PostgreSQL): `campaign_resolve` of 1M recipients ≤ 30 s, and this process's
peak RSS growth during it ≤ 100 MB (no per-recipient Python object: the resolution's memory does not grow with the
audience). The exact background count (`campaign_audience_count`) and the admin's estimate are timed too.

The data set is generated in the database with INSERT … SELECT over generate_series (hundreds of thousands of rows
per second): 10 stores × 100 associates; customers spread over them, 4% opted out, 5% without marketing consent; a
friendship with their primary associate for 98% of them and a second friendship (another associate of the store)
for a fifth; a tag on every third; an earlier campaign this week to a tenth of them (so the frequency cap has rows
to read). The campaign selects everyone of the 10 stores; the recipients' and chunks' counts are checked against
what the data set implies.
"""

import os
import time
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from associates.models import Associate, Store
from bench._machine import cpu_idle_share, cpu_seconds, reset_peak_rss, rss_mb
from campaigns import constants as K
from campaigns.models import Campaign, CampaignChunk, CampaignRecipient
from campaigns.selectors import campaign_audience_count, campaign_audience_estimate
from campaigns.services import campaign_resolve
from customers.models import Tag

CUSTOMERS, STORES, ASSOCIATES_PER_STORE = 1_000_000, 10, 100
TARGET_SECONDS, TARGET_RSS_GROWTH_MB, TARGET_PREVIEW_SECONDS = 30, 100, 1


def run(*, scale: float, log: Callable[[str], None], customers: int | None = None) -> dict:
    if connection.vendor != "postgresql":
        raise CommandError("bench audience measures PostgreSQL: set DATABASE_URL=postgres://…")
    size = customers or max(1000, int(CUSTOMERS * scale))
    campaign, expected = _seed(size, log)

    started = time.perf_counter()
    estimate = campaign_audience_estimate(campaign=campaign)
    estimate_seconds = time.perf_counter() - started
    started = time.perf_counter()
    exact = campaign_audience_count(campaign=campaign)
    count_seconds = time.perf_counter() - started
    log(f"estimate {estimate.count:,} in {estimate_seconds:.2f}s, exact {exact:,} in {count_seconds:.1f}s")

    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    rss_before = rss_mb("VmRSS")
    reset_peak_rss()
    backend = _backend_pid()
    cpu_before = cpu_seconds(backend), time.process_time()
    started = time.perf_counter()
    resolved = campaign_resolve(campaign_id=campaign.pk)
    seconds = round(time.perf_counter() - started, 2)
    cpu = round(cpu_seconds(backend) - cpu_before[0], 2), round(time.process_time() - cpu_before[1], 2)
    growth = round(rss_mb("VmHWM") - rss_before, 1)
    log(f"resolved {resolved.recipients:,} recipients, {resolved.skipped:,} skipped in {seconds}s (+{growth} MB)")

    chunks = CampaignChunk.objects.filter(campaign=campaign)
    verified = (
        resolved.recipients == expected["queued"]
        and resolved.skipped == expected["skipped"]
        and CampaignRecipient.objects.filter(campaign=campaign).count() == size
        and sum(chunks.values_list("size", flat=True)) == expected["queued"]
        and not chunks.filter(size__gt=K.chunk_size()).exists()
        and exact == size
    )
    return {
        "machine": {"cpus": os.cpu_count(), "cpu_idle_before": expected["cpu_idle_before"]},
        "customers": size,
        "associates": STORES * ASSOCIATES_PER_STORE,
        "recipients_queued": resolved.recipients,
        "recipients_skipped": resolved.skipped,
        "chunks": resolved.chunks,
        "range_customers": K.resolve_range(),
        "seconds_resolve": seconds,
        "recipients_per_s": round(size / seconds) if seconds else None,
        # CPU time spent (database backend, this process): what the resolution costs whatever else runs beside it;
        # on a busy machine the wall time above is longer.
        "cpu_seconds": {"database": cpu[0], "python": cpu[1]},
        "peak_rss_growth_mb": growth,
        "preview_estimate": {"count": estimate.count, "exact": estimate.exact, "seconds": round(estimate_seconds, 3)},
        "exact_count_seconds": round(count_seconds, 2),
        "rows_verified": verified,
        "target_seconds": TARGET_SECONDS,
        "target_peak_rss_growth_mb": TARGET_RSS_GROWTH_MB,
        "target_preview_seconds": TARGET_PREVIEW_SECONDS,
        "met": verified
        and seconds <= TARGET_SECONDS
        and growth <= TARGET_RSS_GROWTH_MB
        and estimate_seconds <= TARGET_PREVIEW_SECONDS,
    }


def _seed(size: int, log) -> tuple[Campaign, dict]:
    idle = cpu_idle_share()
    started = time.perf_counter()
    now = timezone.now()
    users = get_user_model().objects
    creator = users.create_user("audience-creator", is_staff=True)
    stores = Store.objects.bulk_create(Store(code=f"AS{n:02d}", name=f"门店{n}", city="上海") for n in range(STORES))
    people = Associate.objects.bulk_create(
        Associate(wecom_userid=f"aud{s.pk}-{n}", name=f"导购{s.pk}-{n}", store=s)
        for s in stores
        for n in range(ASSOCIATES_PER_STORE)
    )
    staff, staff_stores = [a.pk for a in people], [a.store_id for a in people]
    tag_id = Tag.objects.create(name="高意向").pk
    with connection.cursor() as cursor:
        n_staff = len(staff)
        # Customer n: associate n % staff, that associate's store; opted out when n % 25 = 0, no consent when n % 20
        # = 1; no friendship when n % 50 = 9; a second friend (the next associate of the store) when n % 5 = 2.
        cursor.execute(
            "INSERT INTO customers_customer (id, name, gender, phone, primary_store_id, primary_associate_id, "
            "marketing_consent, opted_out, created_at, updated_at) "
            "SELECT n, '顾客' || n, 'unknown', '', (%s::bigint[])[n %% %s + 1], (%s::bigint[])[n %% %s + 1], "
            "n %% 20 <> 1, n %% 25 = 0, %s, %s FROM generate_series(1, %s) n",
            [staff_stores, n_staff, staff, n_staff, now, now, size],
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), %s)", [size])
        cursor.execute(
            "INSERT INTO associates_followrelation (associate_id, customer_id, external_userid, state, remark, "
            "followed_at, ended_reason, welcome) "
            "SELECT (%s::bigint[])[n %% %s + 1], n, 'wm' || lpad(n::text, 30, '0'), '', '', %s, '', 'none' "
            "FROM generate_series(1, %s) n WHERE n %% 50 <> 9",
            [staff, n_staff, now, size],
        )
        cursor.execute(
            "INSERT INTO associates_followrelation (associate_id, customer_id, external_userid, state, remark, "
            "followed_at, ended_reason, welcome) "
            "SELECT (%s::bigint[])[(n + 1) %% %s + 1], n, 'wn' || lpad(n::text, 30, '0'), '', '', %s, '', 'none' "
            "FROM generate_series(1, %s) n WHERE n %% 5 = 2",
            [staff, n_staff, now, size],
        )
        cursor.execute(
            "INSERT INTO customers_customertag (customer_id, tag_id, created_at) "
            "SELECT n, %s, %s FROM generate_series(3, %s, 3) n",
            [tag_id, now, size],
        )
        earlier = Campaign.objects.create(name="本周更早", created_by=creator, status="done", text="x")
        cursor.execute(
            "INSERT INTO campaigns_campaignchunk (campaign_id, associate_id, index, size, status, msgid, error, "
            "attempts, results_final, reminds) VALUES (%s, %s, 0, 0, 'created', 'x', '', 1, true, 0) RETURNING id",
            [earlier.pk, staff[0]],
        )
        (chunk_id,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO campaigns_campaignrecipient (campaign_id, customer_id, associate_id, chunk_id, "
            "external_userid, status, skip_reason, created_at) "
            "SELECT %s, n, %s, %s, '', 'sent', '', %s FROM generate_series(10, %s, 10) n",
            [earlier.pk, staff[0], chunk_id, now, size],
        )
        cursor.execute("ANALYZE")
    campaign = Campaign.objects.create(name="百万受众", created_by=creator, text="会员日", send_at=now)
    campaign.stores.set(stores)
    refused = sum(1 for n in range(1, size + 1) if n % 25 == 0 or n % 20 == 1)
    no_follower = sum(1 for n in range(1, size + 1) if not (n % 25 == 0 or n % 20 == 1) and n % 50 == 9)
    log(f"{size:,} customers seeded in {time.perf_counter() - started:.1f}s")
    skipped = refused + no_follower
    return campaign, {"queued": size - skipped, "skipped": skipped, "cpu_idle_before": idle}


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
