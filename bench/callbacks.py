"""WeCom callbacks: how many events/s Omni accepts (verify + decrypt + store + enqueue) and processes.

Targets (issue 3, this 2-core machine): ≥ 500 accepted/s, p99 accept latency ≤ 50 ms.

Omni runs on a real uWSGI (uwsgi.ini, 4 worker processes) and a real Celery worker (realtime queue, 2
processes); the local WeCom emulator runs in this process. Three phases:

1. accept: N customers add an associate in the emulator (callbacks off); the matching
   add_external_contact events are encrypted exactly as WeCom sends them and POSTed over HTTP from
   client processes as fast as the server takes them. 100 of them are then delivered again.
2. process: the worker drains that backlog — fetches each contact from the emulator, resolves the One ID
   customer, records the friendship. (Their welcome codes are older than WeCom's 20 s by then.)
3. live: the emulator itself sends callbacks while 100 more customers add the associate at 10/s;
   measured is the time from the add to the welcome message accepted by WeCom.
"""

import multiprocessing
import os
import secrets
import statistics
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from django.db.models import Count

from associates.models import Associate, Store
from bench._http_client import post_all
from bench._servers import (
    AES_KEY,
    AGENT_ID,
    CORP_ID,
    TOKEN,
    bench_emulator,
    database_url,
    free_port,
    omni_process,
    wait_until_up,
    web_cmd,
    worker_cmd,
)
from clientbook.models import FollowRelation
from wecom.crypto import CallbackCrypto
from wecom.models import CallbackEvent

TARGET_ACCEPTED, TARGET_P99_MS = 500, 50
WEB_WORKERS, CLIENTS = 4, 4
LIVE_CUSTOMERS, LIVE_RATE = 100, 10


def run(*, scale: float, log: Callable[[str], None]) -> dict:
    events = max(200, int(2000 * scale))
    with bench_emulator() as (emulator, wecom):
        posts = _backlog(emulator, events, log)
        url = database_url()
        with omni_process(web_cmd(port := free_port(), WEB_WORKERS), database_url=url, extra_env=wecom) as server:
            wait_until_up(port)
            accepted = _accept(port, posts, log, server)
            with omni_process(worker_cmd("realtime", 2), database_url=url, extra_env=wecom):
                processed = _drain(events, log)
                live = _live(emulator, port, log)
    return {
        "events": events,
        **accepted,
        **processed,
        **live,
        "targets": {"accepted_per_s": TARGET_ACCEPTED, "accept_p99_ms": TARGET_P99_MS},
        "meets_targets": accepted["accepted_per_s"] >= TARGET_ACCEPTED and accepted["accept_p99_ms"] <= TARGET_P99_MS,
    }


def _backlog(emulator, events: int, log) -> list[tuple[str, bytes]]:
    store = Store.objects.create(code="BENCH", name="基准门店")
    Associate.objects.create(store=store, wecom_userid="bench_assoc", name="基准导购")
    emulator.control("POST", "faults", {"callbacks": "off"})
    emulator.control("POST", "associates", {"userid": "bench_assoc", "name": "基准导购", "store": "基准门店"})
    log(f"adding {events} customers in the emulator …")
    crypto = CallbackCrypto(token=TOKEN, encoding_aes_key=AES_KEY, corp_id=CORP_ID)
    posts = []
    for n in range(events):
        person = emulator.control("POST", "customers", {"name": f"客户{n}", "gender": 2})
        added = emulator.control(
            "POST", "contacts/add", {"external_userid": person["external_userid"], "userid": "bench_assoc"}
        )
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        plaintext = (
            "<xml>"
            f"<ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[change_external_contact]]></Event>"
            "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
            "<UserID><![CDATA[bench_assoc]]></UserID>"
            f"<ExternalUserID><![CDATA[{person['external_userid']}]]></ExternalUserID>"
            f"<WelcomeCode><![CDATA[{added['welcome_code']}]]></WelcomeCode>"
            "</xml>"
        )
        body, signature = crypto.encrypt_message(plaintext, nonce=nonce, timestamp=timestamp, agent_id=AGENT_ID)
        query = urlencode({"msg_signature": signature, "timestamp": timestamp, "nonce": nonce})
        posts.append((f"/wecom/callback/?{query}", body))
    return posts


def _cpu_seconds(match: Callable[[str, int], bool]) -> float:
    """User + system CPU of the processes whose (command name, parent pid) match, from /proc."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if match(name, int(rest[1])):
            total += (int(rest[11]) + int(rest[12])) / tick
    return total


def _accept(port: int, posts: list[tuple[str, bytes]], log, server: subprocess.Popen) -> dict:
    def web(name: str, ppid: int) -> bool:
        return ppid == server.pid

    def database(name: str, ppid: int) -> bool:
        return name.startswith("postgres") or name.startswith("redis-server")

    shares = [posts[n::CLIENTS] for n in range(CLIENTS)]
    web_cpu, db_cpu = _cpu_seconds(web), _cpu_seconds(database)
    with ProcessPoolExecutor(CLIENTS, mp_context=multiprocessing.get_context("spawn")) as pool:
        # Start the client processes before the clock does.
        list(pool.map(post_all, [port] * CLIENTS, [[]] * CLIENTS))
        started = time.perf_counter()
        results = [result for share in pool.map(post_all, [port] * CLIENTS, shares) for result in share]
        seconds = time.perf_counter() - started
    web_cpu, db_cpu = _cpu_seconds(web) - web_cpu, _cpu_seconds(database) - db_cpu
    replays = post_all(port, posts[:100])
    assert all(status == 200 for status, _ in results), {status for status, _ in results}
    latencies = sorted(ms for _, ms in results)
    log(f"accepted {len(posts)} callbacks in {seconds:.2f}s")
    return {
        "web_workers": WEB_WORKERS,
        "client_processes": CLIENTS,
        "accepted_per_s": round(len(posts) / seconds),
        "accept_p50_ms": round(statistics.median(latencies), 2),
        "accept_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "web_cpu_ms_per_event": round(web_cpu * 1000 / len(posts), 2),
        "postgres_redis_cpu_ms_per_event": round(db_cpu * 1000 / len(posts), 2),
        "redelivered_100_answered_200": sum(status == 200 for status, _ in replays),
        "redelivered_100_stored_again": CallbackEvent.objects.count() - len(posts),
    }


def _drain(events: int, log) -> dict:
    started = time.perf_counter()
    deadline = time.monotonic() + 900
    while CallbackEvent.objects.filter(status=CallbackEvent.Status.PENDING).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    # The welcome tasks those events queued must be gone too, or they would delay the live phase.
    while (
        FollowRelation.objects.filter(welcome=FollowRelation.Welcome.PENDING).exists() and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    done = CallbackEvent.objects.filter(status=CallbackEvent.Status.DONE).count()
    log(f"processed {done} of {events} events in {seconds:.1f}s (worker start-up included)")
    return {
        "processed": done,
        "processed_per_s": round(done / seconds, 1),
        "processed_follows": FollowRelation.objects.count(),
    }


def _live(emulator, port: int, log) -> dict:
    """Customers add the associate at LIVE_RATE/s with WeCom's own callbacks; time add → welcome sent."""
    emulator.control("POST", "config", {"callback_url": f"http://127.0.0.1:{port}/wecom/callback/"})
    emulator.control("POST", "faults", {"callbacks": "on"})
    added_at: dict[str, float] = {}
    settled: dict[str, float] = {}

    def observe() -> None:
        waiting = [e for e in added_at if e not in settled]
        done = FollowRelation.objects.filter(external_userid__in=waiting).exclude(
            welcome=FollowRelation.Welcome.PENDING
        )
        for external_userid in done.values_list("external_userid", flat=True):
            settled[external_userid] = time.perf_counter()

    for n in range(LIVE_CUSTOMERS):
        person = emulator.control("POST", "customers", {"name": f"现场客户{n}", "gender": 1})
        added_at[person["external_userid"]] = time.perf_counter()
        emulator.control(
            "POST", "contacts/add", {"external_userid": person["external_userid"], "userid": "bench_assoc"}
        )
        paced = time.perf_counter() + 1 / LIVE_RATE
        while time.perf_counter() < paced:
            observe()
            time.sleep(0.02)
    deadline = time.monotonic() + 120
    while len(settled) < len(added_at) and time.monotonic() < deadline:
        observe()
        time.sleep(0.02)
    live = FollowRelation.objects.filter(external_userid__in=added_at)
    statuses = dict(live.values_list("welcome").annotate(n=Count("pk")))
    waits = sorted(settled[e] - added_at[e] for e in settled)
    log(f"live: {statuses}")
    return {
        "live_customers": LIVE_CUSTOMERS,
        "live_welcome_status": statuses,
        "live_add_to_welcome_p50_s": round(statistics.median(waits), 2) if waits else None,
        "live_add_to_welcome_max_s": round(waits[-1], 2) if waits else None,
    }
