"""Ingestion speed: `import_orders` on the real UCI Online Retail file, and the batch REST API.

Targets (issue 2, on this 2-core machine, PostgreSQL): ≥ 20,000 order lines/s for the bulk import,
≥ 2,000 order lines/s through the API. The API is driven in-process through Django's test client,
so the figure covers routing, authentication, JSON parsing, per-row validation and the writes, but
not a network hop or a WSGI server.
"""

import json
import random
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.test import Client, override_settings

from associates.models import Store
from customers.importing import orders_import_file
from customers.ingestion import api_key_create
from customers.models import Channel, Order, OrderLine, Product

UCI_FILE = settings.OMNI_ONLINE_RETAIL_FILE
API_BATCH_ORDERS = 250
API_LINES_PER_ORDER = 4
TARGET_IMPORT, TARGET_API = 20_000, 2_000


def run(*, scale: float, log: Callable[[str], None]) -> dict:
    figures = {}
    figures.update(_import(scale=scale, log=log))
    figures.update(_api(scale=scale, log=log))
    figures["targets"] = {"import_lines_per_s": TARGET_IMPORT, "api_order_lines_per_s": TARGET_API}
    figures["meets_targets"] = (
        figures["import_lines_per_s"] >= TARGET_IMPORT and figures["api_order_lines_per_s"] >= TARGET_API
    )
    return figures


def _import(*, scale: float, log) -> dict:
    path = UCI_FILE
    with tempfile.TemporaryDirectory() as scratch:
        if scale < 1:
            rows = int(len(pd.read_parquet(UCI_FILE, columns=["InvoiceNo"])) * scale)
            path = Path(scratch) / "slice.parquet"
            pd.read_parquet(UCI_FILE).head(rows).to_parquet(path)
        log(f"import_orders {path.name} …")
        started = time.perf_counter()
        result = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz="Europe/London", currency="GBP")
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = orders_import_file(path=path, channel=Channel.ONLINE_MALL, tz="Europe/London", currency="GBP")
        rerun = time.perf_counter() - started
    lines = OrderLine.objects.count()
    log(f"imported {result.lines_imported} lines in {first:.1f}s; rerun {rerun:.1f}s")
    return {
        "import_file": path.name,
        "import_rows_read": result.rows_read,
        "import_lines": result.lines_imported,
        "import_orders": result.orders_created,
        "import_customers": result.customers_created,
        "import_rejected": sum(result.rejected.values()),
        "import_seconds": round(first, 2),
        "import_lines_per_s": round(result.lines_imported / first),
        "import_rerun_seconds": round(rerun, 2),
        "import_rerun_wrote_nothing": again.already_done and OrderLine.objects.count() == lines,
    }


def _api(*, scale: float, log) -> dict:
    # One key sends every batch back to back, at any --scale: the bench measures the API, not the per-key throttle
    # (OMNI_THROTTLE_RATES["ingest"]), which would answer 429 once a large scale outran it.
    with override_settings(OMNI_THROTTLE_RATES={**settings.OMNI_THROTTLE_RATES, "ingest": ""}):
        return _api_batches(scale=scale, log=log)


def _api_batches(*, scale: float, log) -> dict:
    rng = random.Random(7)
    store = Store.objects.create(code="BENCH01", name="基准门店")
    skus = list(Product.objects.values_list("sku", flat=True)[:2000])
    if len(skus) < 100:
        Product.objects.bulk_create(
            Product(sku=f"B{i:05d}", name=f"商品{i}", price=Decimal("99.00")) for i in range(2000)
        )
        skus = list(Product.objects.values_list("sku", flat=True))
    _, secret = api_key_create(name="bench", channel=Channel.STORE_POS, stores=[store])
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    members = [
        {"external_id": f"BM{i:07d}", "name": f"会员{i}", "phone": f"+86139{i:08d}", "store": store.code}
        for i in range(max(1000, int(5000 * scale)))
    ]
    started = time.perf_counter()
    for start in range(0, len(members), 500):
        response = client.post(
            "/api/v1/members/batch", json.dumps({"members": members[start : start + 500]}), "application/json"
        )
        assert response.status_code == 200, response.content[:500]
    members_seconds = time.perf_counter() - started
    log(f"{len(members)} members in {members_seconds:.1f}s")

    batches = max(4, int(40 * scale))
    payloads = []
    for batch in range(batches):
        orders = []
        for n in range(API_BATCH_ORDERS):
            member = rng.choice(members)["external_id"] if rng.random() < 0.8 else None
            orders.append(
                {
                    "external_id": f"API-{batch:04d}-{n:04d}",
                    "placed_at": f"2026-10-{1 + n % 28:02d}T1{n % 10}:00:00+08:00",
                    "store": store.code,
                    "customer": {"member_id": member} if member else None,
                    "lines": [
                        {
                            "sku": sku,
                            "quantity": rng.randint(1, 3),
                            "unit_price": f"{rng.randint(10, 2000)}.00",
                            "discount": "5.00",
                        }
                        for sku in rng.sample(skus, API_LINES_PER_ORDER)
                    ],
                }
            )
        payloads.append(json.dumps({"orders": orders}))
    lines = batches * API_BATCH_ORDERS * API_LINES_PER_ORDER
    started = time.perf_counter()
    for payload in payloads:
        response = client.post("/api/v1/orders/batch", payload, "application/json")
        assert response.status_code == 200, response.content[:500]
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    for payload in payloads:
        response = client.post("/api/v1/orders/batch", payload, "application/json")
        assert response.json()["summary"]["unchanged"] == API_BATCH_ORDERS
    replay_seconds = time.perf_counter() - started
    assert Order.objects.filter(store=store).count() == batches * API_BATCH_ORDERS
    log(f"{lines} order lines through the API in {seconds:.1f}s; replay {replay_seconds:.1f}s")
    return {
        "api_members": len(members),
        "api_members_per_s": round(len(members) / members_seconds),
        "api_batches": batches,
        "api_batch_size": f"{API_BATCH_ORDERS} orders × {API_LINES_PER_ORDER} lines",
        "api_order_lines": lines,
        "api_order_lines_per_s": round(lines / seconds),
        "api_replay_order_lines_per_s": round(lines / replay_seconds),
    }
