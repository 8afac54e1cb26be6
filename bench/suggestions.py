"""The suggestion engine at scale: model build time and peak memory at 1M and 10M generated order lines, and
per-customer serving latency (excluding HTTP).

Targets (issue 5, this 2-core machine): build ≤ 60 s and ≤ 2 GB at 10M lines; serving p95 ≤ 5 ms.

`--lines 10000000,30000000,100000000` (issue 22) measures the nightly build itself — `manage.py suggestions_build`
in a process of its own, streaming the lines from PostgreSQL — on a data set generated in PostgreSQL with
set-based SQL (see `_lines_run`); targets ≤ 10 min and ≤ 6 GB peak at 100M lines, serving p95 unchanged.

The lines are generated with the shape of a retailer's history: a catalog of 20,000 items in 400 styles of
related items (what co-occurs), Zipf popularity, customers with a taste for a few styles, repeat buying, and
two years of dates; about 10 lines per customer. Each size is built in a fresh process, so its peak resident
memory (ru_maxrss, including Python and the libraries) is the build's own. Serving is timed twice: on the
10M model with `engine.suggest` alone, and end to end through `customer_suggestions` (the sidebar's service:
the customer's history and the products' stock read from PostgreSQL, the engine in between) on the demo brand
with 100,000 customers and about 10 orders each (the sidebar benchmark's data set, built once and reused),
after `suggestion_model_build` has built and stored its model.
"""

import multiprocessing
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

SCRATCH_DATABASE = False
SIZES = (1_000_000, 10_000_000)
ITEMS, STYLES, DAYS = 20_000, 400, 730
SERVE_SAMPLE = 2_000
SERVICE_CUSTOMERS, SERVICE_SAMPLE = 100_000, 1_000
TARGET_BUILD_S, TARGET_BUILD_MB, TARGET_SERVE_P95_MS = 60, 2048, 5


def add_arguments(parser) -> None:
    parser.add_argument(
        "--lines",
        help="Order line counts, comma-separated (e.g. 10000000,30000000,100000000): generate a data set of each size "
        "in PostgreSQL, smallest first, and time the streamed nightly build on it.",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="With --lines: keep the generated data set for the next run, which grows it (or cuts it) to its sizes.",
    )


def run(*, scale: float, log: Callable[[str], None], lines: str | None = None, keep_data: bool = False) -> dict:
    if lines is not None:
        from bench._suggestion_lines import lines_run

        return lines_run(lines, keep_data=keep_data, log=log)
    figures = {"items": ITEMS}
    context = multiprocessing.get_context("spawn")
    for lines in SIZES:
        log(f"building on {lines:,} generated lines …")
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            result = pool.submit(_build_and_serve, lines, lines == SIZES[-1]).result()
        figures[f"at_{lines // 1_000_000}m_lines"] = result
        log(f"  {result}")
    figures["service"] = _service(log)
    largest = figures[f"at_{SIZES[-1] // 1_000_000}m_lines"]
    figures["targets"] = {
        "build_s": TARGET_BUILD_S,
        "build_peak_mb": TARGET_BUILD_MB,
        "serve_p95_ms": TARGET_SERVE_P95_MS,
    }
    figures["meets_targets"] = (
        largest["build_s"] <= TARGET_BUILD_S
        and largest["peak_rss_mb"] <= TARGET_BUILD_MB
        and figures["service"]["p95_ms"] <= TARGET_SERVE_P95_MS
    )
    return figures


def _service(log) -> dict:
    from django.conf import settings
    from django.core.management.base import CommandError
    from django.db import connection

    from associates.models import Associate
    from bench.sidebar import _dataset
    from customers.models import Customer
    from suggestions.selectors import customer_suggestions, suggestion_caches_clear
    from suggestions.services import suggestion_model_build

    if connection.vendor != "postgresql":
        raise CommandError("bench suggestions measures serving on PostgreSQL: set DATABASE_URL=postgres://…")
    _dataset(settings.DATABASES["default"]["NAME"], SERVICE_CUSTOMERS, log)
    log("building the model from the demo brand's orders …")
    build = suggestion_model_build()
    suggestion_caches_clear()
    sample = list(
        Customer.objects.filter(primary_associate__isnull=False, merged_into__isnull=True)
        .order_by("?")
        .values_list("pk", "primary_associate_id")[:SERVICE_SAMPLE]
    )
    associates = {a.pk: a for a in Associate.objects.filter(pk__in={a for _, a in sample}).select_related("store")}
    for customer_id, associate_id in sample[:20]:  # warm: the model and each store's sellable set load once
        customer_suggestions(customer_id=customer_id, associate=associates[associate_id])
    timings, shown = [], 0
    for customer_id, associate_id in sample:
        started = time.perf_counter()
        shown += len(customer_suggestions(customer_id=customer_id, associate=associates[associate_id]).products)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "customers": SERVICE_CUSTOMERS,
        "build": {"status": build.status, "lines": build.lines, "seconds": build.seconds, "peak_mb": build.peak_mb},
        "sampled": len(timings),
        "suggestions_per_customer": round(shown / len(timings), 2),
        "p50_ms": round(float(np.median(timings)), 2),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
    }


def baskets_generate(lines: int, *, seed: int = 0) -> pd.DataFrame:
    """About `lines` order lines (customer_id, date, item_id) with co-occurrence, popularity and repeats."""
    rng = np.random.default_rng(seed)
    customers = max(lines // 10, 1)
    style_of = rng.integers(0, STYLES, ITEMS)
    popularity = 1 / np.arange(1, ITEMS + 1) ** 0.9
    popularity = rng.permutation(popularity)
    by_style = [np.flatnonzero(style_of == s) for s in range(STYLES)]
    style_weights = [popularity[items] / popularity[items].sum() for items in by_style]
    # Each customer likes three styles; each line comes from a liked style (70 %) or anywhere by popularity.
    liked = rng.integers(0, STYLES, (customers, 3))
    customer = rng.integers(0, customers, lines)
    from_style = rng.random(lines) < 0.7
    style = liked[customer, rng.integers(0, 3, lines)]
    item = rng.choice(ITEMS, lines, p=popularity / popularity.sum())
    for s in range(STYLES):  # one vectorized draw per style
        rows = np.flatnonzero(from_style & (style == s))
        if len(rows):
            item[rows] = rng.choice(by_style[s], len(rows), p=style_weights[s])
    # A customer's lines fall on a few visit days, so lines of one visit form a basket.
    visits = rng.integers(0, DAYS, (customers, 4))
    day = visits[customer, rng.integers(0, 4, lines)]
    dates = np.datetime64("2024-01-01") + day.astype("timedelta64[D]")
    return pd.DataFrame({"customer_id": customer, "date": dates, "item_id": item})


def _build_and_serve(lines: int, serve: bool) -> dict:
    from suggestions import engine

    baskets = baskets_generate(lines)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    model = engine.model_build(baskets)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "lines": len(baskets),
        "customers": int(baskets["customer_id"].nunique()),
        "build_s": round(seconds, 1),
        "peak_rss_mb": round(peak / 1024),
        "rss_before_build_mb": round(before / 1024),
    }
    if serve:
        rng = np.random.default_rng(1)
        histories = baskets.sort_values("customer_id").groupby("customer_id")
        sample = rng.choice(baskets["customer_id"].unique(), SERVE_SAMPLE, replace=False)
        now = baskets["date"].max()
        timings = []
        for customer_id in sample:
            history = histories.get_group(customer_id)[["date", "item_id"]]
            before_call = time.perf_counter()
            engine.suggest(model, history, k=6, now=now)
            timings.append((time.perf_counter() - before_call) * 1000)
        timings.sort()
        result["serve"] = {
            "customers": SERVE_SAMPLE,
            "p50_ms": round(float(np.median(timings)), 2),
            "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
            "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
        }
    return result
