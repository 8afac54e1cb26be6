"""The chat sidebar on a phone: how long until the customer's name, and their last purchases, are on the screen.

Targets (issue 23, "Fast on a phone first"): the name and the first purchase row within 1.2 s (median) on a cold
visit and 0.8 s on a warm one (the page visited before in the same browser).

Omni runs as in production (uWSGI with uwsgi.ini, 2 workers) beside the local WeCom emulator, on the demo brand
(seed_demo, --customers, 60 by default). The emulator opens a chat between an associate and a customer of theirs
who bought something (`ui/open`, as its UI does), and Debian's Chromium, as the associate's phone, opens the sidebar
as WeCom's phone app does: a top-level page of 390×844 CSS pixels (mobile, touch, 3× pixels) running the emulator's
JS-SDK, which reads the open chat from the emulator. The phone is throttled through the DevTools protocol: 150 ms
latency, 1.6 Mbit/s down, 750 kbit/s up (Network.emulateNetworkConditions) and the CPU slowed 4×
(Emulation.setCPUThrottlingRate).

A cold visit is a fresh browser context (empty cache, no open connection) with the associate already signed in (a
session cookie, as WeCom's webview keeps it between visits: OAuth's redirects are not the page's cost); a warm visit
is a second visit in the same context. The times are the page's own clock (performance.now(), from the start of
the navigation), read by a MutationObserver the browser installs before any of the page's scripts:

- name: `#name` shows the customer's name;
- purchases: the first purchase row (`#orders .order`) is in the page.

Requests and bytes are what the browser fetched for the visit (every request the page made until the network was
quiet, bytes as they crossed the network: compressed, headers included), from the DevTools Network events.

This machine is shared: the figures move with whatever else runs on it; compare runs made close together.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import import_module
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from associates.auth import SESSION_KEY
from bench._servers import (
    AGENT_ID,
    CORP_ID,
    bench_emulator,
    database_url,
    free_port,
    omni_process,
    wait_until_up,
    web_cmd,
)
from customers.models import Customer, Identity
from demo.seed import demo_seed

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "user_agent": "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh ColorScheme/Light",
}
LATENCY_MS, DOWN_BPS, UP_BPS, CPU_SLOWDOWN = 150, 1_600_000, 750_000, 4
TARGET_COLD_MS, TARGET_WARM_MS = 1200, 800
CUSTOMERS, RUNS, WEB_WORKERS = 60, 7, 2
VISIT_TIMEOUT_MS = 30_000

# Installed in every document before its own scripts: the moments the name and the first purchase appear.
MARKS = """
(() => {
  const expected = %s;
  const marks = (window.__omniMarks = {});
  const check = () => {
    const name = document.getElementById("name");
    if (marks.name === undefined && name && name.textContent === expected) { marks.name = performance.now(); }
    if (marks.purchases === undefined && document.querySelector("#orders .order")) {
      marks.purchases = performance.now();
    }
    if (marks.name !== undefined && marks.purchases !== undefined) { observer.disconnect(); }
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true, characterData: true });
})();
"""


# What the page fetched and when (ms from the navigation's start): where a visit's time goes, in the log.
WATERFALL = """() => performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
  .map(e => `${Math.round(e.startTime)}-${Math.round(e.responseEnd)} ${e.name.replace(/^https?:\\/\\/[^/]+/, "")}`)
  .concat(Object.entries(window.__omniMarks).map(([k, v]) => `${Math.round(v)} ${k}`))"""


def add_arguments(parser):
    parser.add_argument("--runs", type=int, help=f"Cold and warm visits each (default {RUNS}).")
    parser.add_argument(
        "--static",
        choices=["collected", "development"],
        help="Static files as production serves them (collected: hashed names, gzip, cached a year; the default) "
        "or as the demo does (development: the apps' folders, uncompressed).",
    )
    parser.add_argument("--screenshot", help="Save the last warm visit's first screen (390×844) to this PNG.")


def run(
    *,
    scale: float = 1.0,
    log,
    customers: int = CUSTOMERS,
    runs: int = RUNS,
    static: str = "collected",
    screenshot: str = "",
) -> dict:
    from playwright.sync_api import sync_playwright

    runs = max(1, round(runs * scale))
    log(f"seeding the demo brand: {customers} customers")
    demo_seed(customers=customers)
    call_command("suggestions_build", verbosity=0)
    customer, associate, external_userid = _chat()
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = associate.pk
    session.create()
    port = free_port()
    omni = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench_sidebar_phone_") as folder, bench_emulator() as (emulator, wecom):
        emulator.control("POST", "faults", {"callbacks": "off"})
        emulator.control("POST", "associates", {"userid": associate.wecom_userid, "name": associate.name})
        emulator.control("POST", "customers", {"name": customer.name, "external_userid": external_userid})
        emulator.control("POST", "contacts/add", {"external_userid": external_userid, "userid": associate.wecom_userid})
        emulator.control("POST", "ui/open", {"userid": associate.wecom_userid, "external_userid": external_userid})
        env = {
            **wecom,
            "WECOM_OAUTH_AUTHORIZE_URL": emulator.authorize_url,
            "WECOM_JSSDK_URL": f"{emulator.url}/jssdk/jwxwork.js",
            "OMNI_PUBLIC_URL": omni,
            "OMNI_FRAME_ANCESTORS": emulator.url,
        }
        if static == "collected":
            env.update(_static_collected(database_url(), log, folder))
        with omni_process(web_cmd(port, WEB_WORKERS), database_url=database_url(), extra_env=env):
            wait_until_up(port, "/healthz")
            # Playwright's sync API runs an event loop in this thread; nothing here touches the ORM any more.
            os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    visits = _visits(browser, omni, session.session_key, customer.name, runs, log, screenshot)
                finally:
                    browser.close()
    return {
        "customers": customers,
        "runs": runs,
        "static": static,
        "profile": {
            "viewport": "390x844 mobile",
            "latency_ms": LATENCY_MS,
            "down_kbps": DOWN_BPS // 1000,
            "up_kbps": UP_BPS // 1000,
            "cpu_slowdown": CPU_SLOWDOWN,
        },
        "cold": _summary(visits["cold"], TARGET_COLD_MS),
        "warm": _summary(visits["warm"], TARGET_WARM_MS),
        "corp": CORP_ID,
        "agent": AGENT_ID,
    }


def _static_collected(url: str, log, folder: str) -> dict[str, str]:
    """collectstatic into a folder of this run's (`./run serve` does it into production's), and the environment that
    serves it as production does; the secret key stays this process's, so the session made here holds there."""
    env = {"OMNI_VAR_DIR": folder, "OMNI_STATIC_COLLECTED": "1", "DJANGO_SECRET_KEY": settings.SECRET_KEY}
    log("collectstatic (hashed names, gzip)")
    child = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    child.update(env, DATABASE_URL=url, OMNI_DEVELOPMENT="1")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=Path(settings.BASE_DIR),
        env=child,
        check=True,
    )
    return env


def _chat() -> tuple[Customer, object, str]:
    """A customer with WeCom contact and purchases, their associate, and the contact's external_userid."""
    identity = (
        Identity.objects.filter(
            kind=Identity.Kind.WECOM_EXTERNAL_USERID,
            customer__primary_associate__isnull=False,
            customer__orders__isnull=False,
        )
        .exclude(customer__name="")
        .select_related("customer__primary_associate")
        .order_by("customer_id")
        .first()
    )
    if identity is None:
        raise RuntimeError("the seeded brand has no customer with a WeCom contact and purchases")
    return identity.customer, identity.customer.primary_associate, identity.value


def _visits(
    browser, omni: str, session_key: str, name: str, runs: int, log, screenshot: str = ""
) -> dict[str, list[dict]]:
    visits: dict[str, list[dict]] = {"cold": [], "warm": []}
    # Unthrottled visits first, one per web worker and more: a worker's first request (imports, templates, the first
    # connection) is the server's start, not the phone's cost.
    context = browser.new_context(**PHONE)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": omni}])
    context.add_init_script(MARKS % json.dumps(name))
    try:
        for _ in range(WEB_WORKERS * 2):
            page = context.new_page()
            page.goto(f"{omni}/sidebar/", timeout=VISIT_TIMEOUT_MS)
            page.locator("#orders .order").first.wait_for(timeout=VISIT_TIMEOUT_MS)
            page.wait_for_load_state("networkidle", timeout=VISIT_TIMEOUT_MS)
            page.close()
    finally:
        context.close()
    for n in range(runs):
        context = browser.new_context(**PHONE)
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": omni}])
        context.add_init_script(MARKS % json.dumps(name))
        try:
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            _throttle(cdp)
            for kind in ("cold", "warm"):
                visit = _visit(page, cdp, f"{omni}/sidebar/")
                waterfall = visit.pop("waterfall")
                visits[kind].append(visit)
                log(f"run {n + 1}/{runs} {kind}: {visit}\n  " + "\n  ".join(waterfall))
            if screenshot and n == runs - 1:
                page.screenshot(path=screenshot)
        finally:
            context.close()
    return visits


def _throttle(cdp) -> None:
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": LATENCY_MS,
            "downloadThroughput": DOWN_BPS / 8,
            "uploadThroughput": UP_BPS / 8,
        },
    )
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})


def _visit(page, cdp, url: str) -> dict:
    requests: dict[str, float] = {}

    def sent(event):
        requests.setdefault(event["requestId"], 0)

    def finished(event):
        requests[event["requestId"]] = event.get("encodedDataLength", 0)

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.loadingFinished", finished)
    try:
        page.goto(url, wait_until="commit", timeout=VISIT_TIMEOUT_MS)
        page.wait_for_function(
            "() => window.__omniMarks && window.__omniMarks.name !== undefined"
            " && window.__omniMarks.purchases !== undefined",
            timeout=VISIT_TIMEOUT_MS,
            polling=50,
        )
        marks = page.evaluate("() => window.__omniMarks")
        page.wait_for_load_state("networkidle", timeout=VISIT_TIMEOUT_MS)
        time.sleep(0.2)
        waterfall = page.evaluate(WATERFALL)
    finally:
        cdp.remove_listener("Network.requestWillBeSent", sent)
        cdp.remove_listener("Network.loadingFinished", finished)
    return {
        "name_ms": round(marks["name"]),
        "purchases_ms": round(marks["purchases"]),
        "requests": len(requests),
        "bytes": int(sum(requests.values())),
        "waterfall": waterfall,
    }


def _summary(visits: list[dict], target_ms: int) -> dict:
    def spread(key: str) -> dict:
        values = sorted(v[key] for v in visits)
        p90 = values[min(len(values) - 1, max(0, round(0.9 * len(values) + 0.5) - 1))]
        return {"median": round(statistics.median(values)), "p90": p90}

    return {
        "name_ms": {**spread("name_ms"), "target_median": target_ms},
        "purchases_ms": {**spread("purchases_ms"), "target_median": target_ms},
        "requests": spread("requests"),
        "bytes": spread("bytes"),
        "met": statistics.median(v["name_ms"] for v in visits) <= target_ms
        and statistics.median(v["purchases_ms"] for v in visits) <= target_ms,
    }
