"""Coupons at campaign scale and at the till: a pack to 100,000 customers, then redeem and validate over HTTP.

Targets (issue 6, this 2-core machine, PostgreSQL): issuing a 3-coupon pack to 100,000 customers through
`coupon_pack_send_many` (the campaign path) ≤ 20 s; redeem p95 through the API under 8 concurrent clients
≤ 20 ms. Issue 22: `--customers 1000000`, the campaign part ≤ 60 s with this process's peak RSS growth ≤ 100 MB
(the recipients are read from the database by keyset, 10,000 at a time, and issued a batch at a time).
`--campaign-only` skips the till part. The campaign is sent by `--workers` processes (default 2, one per core) side by
side, each to its share of the associates, one call per associate (a campaign's chunk is one associate's recipients,
their ids spread over the whole table), as a campaign's chunks are sent by several Celery workers: batches write
their rows unlocked and lock the pack only to take the counters (coupons.sending_many).

1. campaign: 100,000 customers (COPY) credited to 100 associates in 10 stores receive a pack of three
   templates × 1 (满300减50, 85折 capped at 30, 立减20) in one call; the ledgers and counters are then checked
   (300,000 coupons, the templates' issued counts, the pack's spent budget), and the call is run again, which
   must issue nothing.
2. redeem: Omni runs on uWSGI (uwsgi.ini, 4 workers); 8 client processes POST /api/v1/coupons/redeem/ back to
   back with a store POS key, every request on a fresh connection and for a different coupon of the campaign.
3. validate: the same for /api/v1/coupons/validate/ on coupons not redeemed.

`--through-pgbouncer`: the web processes of 2 and 3 reach PostgreSQL through a private PgBouncer in transaction mode
(bench/_pgbouncer.py) with the settings production uses behind one (DATABASE_POOLER=pgbouncer-transaction: no
prepared statements), as a deployment with more web processes than the server has connections would run.
"""

import json
import multiprocessing
import os
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from decimal import Decimal

from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from associates.models import Associate, Store
from bench._machine import cpu_idle_share, cpu_seconds, reset_peak_rss, rss_mb
from bench._pgbouncer import pgbouncer
from bench._servers import database_url, free_port, omni_process, wait_until_up, web_cmd
from coupons.models import Coupon, CouponPack, CouponPackItem, CouponTemplate, CustomerHolding, IssueRequest, Redemption
from coupons.sending_many import coupon_pack_send_many
from customers.ingestion import api_key_create
from customers.models import Channel, Customer
from omni.bulk import bulk_copy

CUSTOMERS = 100_000
STORES, ASSOCIATES_PER_STORE = 10, 10
TARGET_CAMPAIGN_S, TARGET_REDEEM_P95_MS = 20, 20
TARGET_CAMPAIGN_S_1M, LARGE, TARGET_CAMPAIGN_RSS_GROWTH_MB = 60, 1_000_000, 100
PAGE = 10_000
WORKERS = 2  # one per core of the 2-core machine the targets are set on


WEB_WORKERS, CLIENTS, REQUESTS_PER_CLIENT, WARM_UP = 4, 8, 500, 25


def add_arguments(parser) -> None:
    parser.add_argument("--campaign-only", action="store_true", help="Measure the campaign part only, not the till.")
    parser.add_argument(
        "--workers",
        type=int,
        help=f"Processes sending the campaign side by side, as its chunks on Celery workers (default {WORKERS}).",
    )
    parser.add_argument(
        "--through-pgbouncer",
        action="store_true",
        help="The till's web processes reach PostgreSQL through a private PgBouncer in transaction mode.",
    )


def run(
    *,
    scale: float,
    log: Callable[[str], None],
    customers: int | None = None,
    campaign_only: bool = False,
    through_pgbouncer: bool = False,
    workers: int = WORKERS,
) -> dict:
    if connection.vendor != "postgresql":
        raise CommandError("bench coupons measures PostgreSQL: set DATABASE_URL=postgres://…")
    size = customers or max(1000, int(CUSTOMERS * scale))
    idle_before = cpu_idle_share()
    _seed(size, log)
    campaign, pack = _campaign(size, log, workers)
    target_campaign = TARGET_CAMPAIGN_S_1M if size >= LARGE else TARGET_CAMPAIGN_S
    campaign_met = (
        campaign["rows_verified"]
        and campaign["seconds"] <= target_campaign
        and campaign["peak_rss_growth_mb"] <= TARGET_CAMPAIGN_RSS_GROWTH_MB
    )
    if campaign_only:
        return {
            "machine": {"cpus": os.cpu_count(), "cpu_idle_before": idle_before},
            "customers": size,
            "campaign": campaign,
            "targets": {"campaign_seconds": target_campaign, "campaign_rss_growth_mb": TARGET_CAMPAIGN_RSS_GROWTH_MB},
            "meets_targets": campaign_met,
        }
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    per_client = max(50, int(REQUESTS_PER_CLIENT * min(scale, 1)))
    redeem, validate = _till(pack, per_client, log, through_pgbouncer=through_pgbouncer)
    return {
        # Other work on the machine slows every figure: how much of its CPU was idle just before the run.
        "machine": {"cpus": os.cpu_count(), "cpu_idle_before": idle_before},
        "customers": size,
        "campaign": campaign,
        "web_workers": WEB_WORKERS,
        "web_to_postgres": "pgbouncer-transaction" if through_pgbouncer else "direct",
        "clients": CLIENTS,
        "redeem": redeem,
        "validate": validate,
        "targets": {
            "campaign_seconds": target_campaign,
            "campaign_rss_growth_mb": TARGET_CAMPAIGN_RSS_GROWTH_MB,
            "redeem_p95_ms": TARGET_REDEEM_P95_MS,
        },
        "meets_targets": campaign_met and redeem["p95_ms"] <= TARGET_REDEEM_P95_MS,
    }


def _seed(size: int, log) -> None:
    """`size` customers, each with a primary associate."""
    stores = Store.objects.bulk_create(
        Store(code=f"BS{n:02d}", name=f"基准门店{n}", city="上海") for n in range(STORES)
    )
    associates = Associate.objects.bulk_create(
        Associate(wecom_userid=f"bench{s.pk}-{n}", name=f"导购{s.pk}-{n}", store=s)
        for s in stores
        for n in range(ASSOCIATES_PER_STORE)
    )
    started = time.perf_counter()
    now = timezone.now()
    columns = ["name", "gender", "phone", "primary_store_id", "primary_associate_id"]
    columns += ["marketing_consent", "opted_out", "created_at", "updated_at"]
    bulk_copy(
        Customer,
        columns,
        (
            (f"顾客{n}", "unknown", f"+86139{n:08d}", a.store_id, a.pk, True, False, now, now)
            for n in range(size)
            for a in [associates[n % len(associates)]]
        ),
    )
    log(f"{size:,} customers in {time.perf_counter() - started:.1f}s")


def _recipients(associate_id: int | None = None) -> Iterator[tuple[int, int]]:
    """(customer id, associate id) of every customer (of the associate's), read by keyset a page at a time."""
    after = 0
    customers = (
        Customer.objects.all() if associate_id is None else Customer.objects.filter(primary_associate_id=associate_id)
    )
    while page := list(customers.filter(pk__gt=after).order_by("pk").values_list("pk", "primary_associate_id")[:PAGE]):
        yield from page
        after = page[-1][0]


def _send_share(pack_id: int, share: int, shares: int) -> dict:
    """One worker process: send the pack to its share of the associates' customers, one call per associate, as a
    campaign's chunks are (a chunk is one associate's recipients, whose ids are spread over the whole table); its
    figures."""
    rss_before = rss_mb("VmRSS")
    reset_peak_rss()
    backend = _backend_pid()
    cpu_before = cpu_seconds(backend), time.process_time()
    associates = list(Associate.objects.order_by("pk").values_list("pk", flat=True))[share::shares]
    sent = [
        coupon_pack_send_many(pack_id=pack_id, recipients=_recipients(associate), request_prefix="bench-campaign")
        for associate in associates
    ]
    skipped = {}
    for each in sent:
        for reason, count in each.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    figures = {
        "issued": sum(each.issued for each in sent),
        "replayed": sum(each.replayed for each in sent),
        "skipped": skipped,
        "cpu_database": cpu_seconds(backend) - cpu_before[0],
        "cpu_python": time.process_time() - cpu_before[1],
        "rss_growth_mb": rss_mb("VmHWM") - rss_before,
    }
    connection.close()
    return figures


def _send_side_by_side(pack_id: int, workers: int) -> list[dict]:
    connection.close()  # the workers are forked from this process: they must not share its connection
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_send_share, [pack_id] * workers, range(workers), [workers] * workers))


def _campaign(size: int, log, workers: int) -> tuple[dict, CouponPack]:
    templates = [
        CouponTemplate(name="满300减50", kind="threshold", value=Decimal("50"), threshold=Decimal("300")),
        CouponTemplate(name="85折券", kind="percent_off", value=Decimal("15"), max_discount=Decimal("30")),
        CouponTemplate(name="立减20", kind="amount_off", value=Decimal("20")),
    ]
    for template in templates:
        template.valid_days, template.total_stock, template.status = 30, size, CouponTemplate.Status.RUNNING
    templates = CouponTemplate.objects.bulk_create(templates)
    cost = sum(template.face_value for template in templates)
    pack = CouponPack.objects.create(name="会员日券包", budget=cost * size, daily_quota=size)
    CouponPackItem.objects.bulk_create(CouponPackItem(pack=pack, template=template) for template in templates)

    log(f"sending a pack of {len(templates)} coupons to {size:,} customers from {workers} worker process(es) …")
    started = time.perf_counter()
    shares = _send_side_by_side(pack.pk, workers)
    seconds = time.perf_counter() - started
    issued = sum(share["issued"] for share in shares)
    skipped = {reason: sum(s["skipped"].get(reason, 0) for s in shares) for s in shares for reason in s["skipped"]}
    growth = round(max(share["rss_growth_mb"] for share in shares), 1)
    cpu = round(sum(s["cpu_database"] for s in shares), 2), round(sum(s["cpu_python"] for s in shares), 2)
    log(f"issued {issued:,} packs in {seconds:.1f}s; skipped {skipped}")

    started = time.perf_counter()
    again = coupon_pack_send_many(pack_id=pack.pk, recipients=_recipients(), request_prefix="bench-campaign")
    rerun = time.perf_counter() - started
    log(f"rerun in {rerun:.1f}s: {again.issued} issued, {again.replayed:,} replayed")

    coupons = Coupon.objects.count()
    issued_count = CouponTemplate.objects.aggregate(total=Sum("issued_count"))["total"]
    spent = CouponPack.objects.get(pk=pack.pk).spent
    expected = len(templates) * size
    verified = (
        issued == size
        and not skipped
        and coupons == expected
        and issued_count == expected
        and spent == cost * size
        and IssueRequest.objects.count() == size
        and CustomerHolding.objects.count() == expected
        and Coupon.objects.values("customer").distinct().count() == size
        and again.issued == 0
        and again.replayed == size
    )
    figures = {
        "pack": f"{len(templates)} templates × 1",
        "workers": workers,
        "customers_served": issued,
        "coupons_issued": coupons,
        "templates_issued_count": issued_count,
        "pack_spent": spent,
        "rows_verified": verified,
        "seconds": round(seconds, 2),
        "coupons_per_s": round(coupons / seconds),
        # CPU time spent (the workers' database backends, the workers): what the campaign costs whatever else runs
        # beside it; on a busy machine the wall time above is longer.
        "cpu_seconds": {"database": cpu[0], "python": cpu[1]},
        "peak_rss_growth_mb": growth,  # of the worker that grew most
        "rerun_seconds": round(rerun, 2),
        "rerun_issued": again.issued,
    }
    return figures, pack


def _till(pack: CouponPack, per_client: int, log, *, through_pgbouncer: bool) -> tuple[dict, dict]:
    store = Store.objects.order_by("pk").first()
    _, secret = api_key_create(name="bench POS", channel=Channel.STORE_POS, stores=[store])
    threshold, percent = (item.template_id for item in pack.items.order_by("template_id")[:2])
    wanted = CLIENTS * (per_client + WARM_UP) + 2
    to_redeem = list(Coupon.objects.filter(template_id=threshold).order_by("?").values_list("code", flat=True)[:wanted])
    to_validate = list(Coupon.objects.filter(template_id=percent).order_by("?").values_list("code", flat=True)[:wanted])
    queries = _queries(secret, store, to_redeem.pop(), to_validate.pop())

    def body(code: str, n: int) -> bytes:
        fields = {"code": code, "store": store.code, "order_ref": f"BENCH-{n}", "amount": "399.00"}
        return json.dumps({**fields, "request_no": f"bench-redeem-{n}"}).encode()

    redeem_posts = [("/api/v1/coupons/redeem/", body(code, n)) for n, code in enumerate(to_redeem)]
    validate_posts = [("/api/v1/coupons/validate/", body(code, n)) for n, code in enumerate(to_validate)]
    port = free_port()
    url, pooler = database_url(), {}
    connection.close()  # the client processes are forked from this one: they must not share its connection
    with ExitStack() as stack:
        if through_pgbouncer:
            db = connection.settings_dict
            bouncer = stack.enter_context(
                pgbouncer(
                    upstream_host=db["HOST"] or "127.0.0.1", upstream_port=int(db["PORT"] or 5432), user=db["USER"]
                )
            )
            url, pooler = bouncer.url(url), {"DATABASE_POOLER": "pgbouncer-transaction"}
            log(f"the web processes reach PostgreSQL through PgBouncer (transaction mode) on port {bouncer.port}")
        stack.enter_context(omni_process(web_cmd(port, WEB_WORKERS), database_url=url, extra_env=pooler))
        pool = stack.enter_context(ProcessPoolExecutor(CLIENTS, mp_context=multiprocessing.get_context("fork")))
        wait_until_up(port)
        redeem = _load(pool, port, secret, redeem_posts, per_client, expected=201)
        log(f"redeem: p95 {redeem['p95_ms']} ms, {redeem['requests_per_s']} req/s")
        validate = _load(pool, port, secret, validate_posts, per_client, expected=200)
        log(f"validate: p95 {validate['p95_ms']} ms, {validate['requests_per_s']} req/s")
    redeemed = Redemption.objects.count()
    assert redeemed == CLIENTS * (per_client + WARM_UP) + 1, redeemed
    assert Coupon.objects.filter(status=Coupon.Status.REDEEMED).count() == redeemed
    redeem["queries_per_request"], validate["queries_per_request"] = queries
    return redeem, validate


def _load(pool, port: int, secret: str, posts: list[tuple[str, bytes]], per_client: int, *, expected: int) -> dict:
    """Warm up, then each client process sends its share back to back; figures of the measured part."""
    warm, measured = posts[: CLIENTS * WARM_UP], posts[CLIENTS * WARM_UP : CLIENTS * (WARM_UP + per_client)]
    list(pool.map(_post_all, [port] * CLIENTS, [secret] * CLIENTS, [warm[n::CLIENTS] for n in range(CLIENTS)]))
    started = time.perf_counter()
    shares = pool.map(_post_all, [port] * CLIENTS, [secret] * CLIENTS, [measured[n::CLIENTS] for n in range(CLIENTS)])
    results = [result for share in shares for result in share]
    seconds = time.perf_counter() - started
    statuses = {status for status, _ in results}
    assert statuses == {expected}, statuses
    return {"requests": len(results), "requests_per_s": round(len(results) / seconds), **_latencies(results)}


def _post_all(port: int, secret: str, posts: list[tuple[str, bytes]]) -> list[tuple[int, float]]:
    """POST each (path, JSON body) on a fresh connection, as a till does; (status, ms) each.

    A bare socket and a request prepared in advance: the load generator shares the server's two cores, and
    http.client's parsing would take a good part of them."""
    head = f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nAuthorization: Api-Key {secret}\r\n"
    requests = [
        f"POST {path} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
        for path, body in posts
    ]
    results = []
    for request in requests:
        before = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(request)
            answer = bytearray()
            while chunk := client.recv(65536):
                answer += chunk
        status = int(answer[9:12])
        results.append((status, (time.perf_counter() - before) * 1000))
    return results


def _queries(secret: str, store: Store, redeem_code: str, validate_code: str) -> tuple[int, int]:
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    counts = []
    for path, code in (("redeem", redeem_code), ("validate", validate_code)):
        body = {"code": code, "store": store.code, "order_ref": "BENCH-Q", "amount": "399.00", "request_no": "q"}
        with CaptureQueriesContext(connection) as captured:
            response = client.post(f"/api/v1/coupons/{path}/", body, content_type="application/json")
        assert response.status_code in (200, 201), response.content
        counts.append(len(captured))
    return counts[0], counts[1]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _latencies(results: list[tuple[int, float]]) -> dict:
    ms = sorted(ms for _, ms in results)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 2),
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 2),
    }
