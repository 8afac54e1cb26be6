"""The sidebar's product search at 100,000 SKUs × 200 stores: p95 of a realistic query mix through the API.

Size at scale 1 (or --skus / --stores): 100,000 SKUs (20,000 styles of 5 sizes, Chinese names such as
"法式真丝连衣裙 黑色 M", 13-digit barcodes, 19 categories), 200 stores in 20 cities with coordinates, and stock for
a share of the SKUs at each store (--stock-share, 0.3: 6,000,000 rows), all loaded by COPY and analyzed.

The mix (--queries, 400 timed after one untimed pass), each a GET /api/v1/sidebar/products/ by a signed-in associate
through Django's test client: Chinese name substrings of 2 to 5 characters (30%), the same in stock here (15%), SKU
prefixes (15%), barcodes as a scan gives them (15%), a category with a price range (15%), a category in stock here
(10%). Printed: p50/p95/max per kind and overall, beside the target (p95 ≤ 50 ms), whether the Chinese query's plan
uses the trigram index (PostgreSQL), and the machine's load before the run (the machine is shared).
"""

import os
import random
import statistics
import time
from collections.abc import Callable
from decimal import Decimal

from django.db import connection
from django.test import Client
from django.utils import timezone

from associates.auth import SESSION_KEY
from associates.models import Associate, Store
from bench._machine import cpu_idle_share
from customers.categories import CATEGORY_LABELS
from customers.models import Product, StoreStock
from omni.bulk import bulk_copy, is_postgres

SKUS, STORES, STOCK_SHARE, QUERIES = 100_000, 200, 0.3, 400
SIZES = ("XS", "S", "M", "L", "XL")
TARGET_P95_MS = 50
MATERIALS = ("真丝", "羊绒", "棉麻", "纯棉", "亚麻", "羊毛", "牛仔", "雪纺", "天丝", "醋酸")
STYLES = ("法式", "修身", "宽松", "经典", "通勤", "复古", "简约", "高腰", "廓形", "休闲")
COLOURS = ("黑色", "白色", "米色", "藏青", "酒红", "驼色", "灰色", "雾粉")
CITIES = (
    ("上海", 31.23, 121.47), ("北京", 39.90, 116.40), ("杭州", 30.27, 120.15), ("南京", 32.06, 118.80),
    ("苏州", 31.30, 120.58), ("广州", 23.13, 113.26), ("深圳", 22.54, 114.06), ("成都", 30.57, 104.07),
    ("重庆", 29.56, 106.55), ("武汉", 30.59, 114.31), ("西安", 34.34, 108.94), ("天津", 39.34, 117.36),
    ("长沙", 28.23, 112.94), ("郑州", 34.75, 113.63), ("青岛", 36.07, 120.38), ("厦门", 24.48, 118.09),
    ("宁波", 29.87, 121.54), ("合肥", 31.82, 117.23), ("沈阳", 41.81, 123.43), ("昆明", 24.88, 102.83),
)  # fmt: skip
KINDS = (
    ("name", 0.30),
    ("name_in_stock", 0.15),
    ("sku_prefix", 0.15),
    ("barcode", 0.15),
    ("category_price", 0.15),
    ("category_in_stock", 0.10),
)
ITEM_WORDS = {code: label[:3] for code, label in CATEGORY_LABELS.items()}


def add_arguments(parser) -> None:
    parser.add_argument("--skus", type=int, help=f"SKUs in the catalogue (default {SKUS:,} × scale)")
    parser.add_argument("--stores", type=int, help=f"Stores (default {STORES} × scale, at least 2)")
    parser.add_argument(
        "--stock-share", type=float, help=f"Share of the SKUs each store stocks (default {STOCK_SHARE})"
    )
    parser.add_argument("--queries", type=int, help=f"Timed searches (default {QUERIES})")


def run(
    *,
    scale: float,
    log: Callable[[str], None],
    skus: int | None = None,
    stores: int | None = None,
    stock_share: float = STOCK_SHARE,
    queries: int = QUERIES,
) -> dict:
    skus = skus or max(10, int(SKUS * scale))
    stores = stores or max(2, int(STORES * scale))
    load = {"loadavg": os.getloadavg(), "cpu_idle_share": cpu_idle_share(2.0)}
    log(f"machine before the run: load {load['loadavg']}, idle {load['cpu_idle_share']:.0%}")
    rng = random.Random(23)
    began = time.perf_counter()
    catalogue = _load(rng, skus=skus, stores=stores, stock_share=stock_share, log=log)
    built_s = time.perf_counter() - began

    associate = Associate.objects.create(
        wecom_userid="bench-products", name="基准导购", store=Store.objects.order_by("pk").first()
    )
    client = Client()
    session = client.session
    session[SESSION_KEY] = associate.pk
    session.save()
    mix = _mix(rng, catalogue, queries)
    for _kind, params in mix:  # one untimed pass: caches and the session warm
        _get(client, params)
    times: dict[str, list[float]] = {}
    found = 0
    for kind, params in mix:
        began = time.perf_counter()
        body = _get(client, params)
        times.setdefault(kind, []).append((time.perf_counter() - began) * 1000)
        found += bool(body["results"])
    every = [t for kind_times in times.values() for t in kind_times]
    overall = _figures(every)
    return {
        "skus": Product.objects.count(),
        "stores": Store.objects.count(),
        "stock_rows": catalogue["stock_rows"],
        "build_seconds": round(built_s, 1),
        "queries": len(every),
        "queries_with_results": found,
        "search_ms": overall,
        "by_kind_ms": {kind: _figures(kind_times) for kind, kind_times in times.items()},
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": overall["p95"] <= TARGET_P95_MS,
        # A selective Chinese name (one style's stem, e.g. 法式真丝连衣): the plan reads the trigram index.
        "chinese_query_uses_trigram_index": (
            _plan_uses_trigram(catalogue["products"][0][1].split()[0]) if is_postgres() else None
        ),
        "machine_before": load,
        "machine_after": {"loadavg": os.getloadavg()},
    }


def _get(client: Client, params: dict) -> dict:
    response = client.get("/api/v1/sidebar/products/", params)
    assert response.status_code == 200, response.content
    return response.json()


def _figures(values: list[float]) -> dict:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1), "max": round(ordered[-1], 1)}


def _plan_uses_trigram(word: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            # The statement catalogue_search makes for one word of three characters or more.
            "EXPLAIN SELECT id FROM customers_product WHERE is_active"
            " AND (name ILIKE %s OR UPPER(sku::text) LIKE UPPER(%s)) ORDER BY UPPER(sku::text), sku LIMIT 21",
            [f"%{word}%", f"{word}%"],
        )
        return "product_name_trgm" in "\n".join(row[0] for row in cursor.fetchall())


def _load(rng: random.Random, *, skus: int, stores: int, stock_share: float, log) -> dict:
    now = timezone.now()
    began = time.perf_counter()
    store_rows = []
    for n in range(stores):
        city, lat, lng = CITIES[n % len(CITIES)]
        lat, lng = Decimal(f"{lat + rng.uniform(-0.15, 0.15):.6f}"), Decimal(f"{lng + rng.uniform(-0.15, 0.15):.6f}")
        store_rows.append((f"BP{n:03d}", f"{city}{n:03d}店", city, "", True, lat, lng, "", now))
    bulk_copy(
        Store,
        ["code", "name", "city", "address", "is_active", "latitude", "longitude", "welcome_text", "created_at"],
        store_rows,
    )
    categories = list(ITEM_WORDS)
    product_rows = []
    for n in range(skus):
        style, size = divmod(n, len(SIZES))
        category = categories[style % len(categories)]
        srng = random.Random(style)
        material, adjective, colour = srng.choice(MATERIALS), srng.choice(STYLES), srng.choice(COLOURS)
        price = Decimal(srng.randrange(99, 3999))
        name = f"{adjective}{material}{ITEM_WORDS[category]} {colour} {SIZES[size]}"
        barcode = f"69{n:010d}"
        barcode += str((10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(barcode)) % 10) % 10)
        style_code = f"BP{style:06d}"
        row = (f"{style_code}-{SIZES[size]}", name, category, SIZES[size], style_code, price, "", barcode, True)
        product_rows.append((*row, srng.choice((None, 0, 5, 20)), now))
    columns = ["sku", "name", "category", "size", "style_code", "price", "image_url", "barcode", "is_active"]
    bulk_copy(Product, [*columns, "online_stock", "created_at"], product_rows)
    product_ids = list(Product.objects.order_by("pk").values_list("pk", flat=True))
    store_ids = list(Store.objects.order_by("pk").values_list("pk", flat=True))
    log(f"{stores} stores and {skus} SKUs in {time.perf_counter() - began:.1f} s")
    per_store = int(len(product_ids) * stock_share)

    def stock_rows():
        for store_id in store_ids:
            for product_id in sorted(rng.sample(product_ids, per_store)):
                yield store_id, product_id, rng.choice((0, 1, 2, 3, 5, 8)), now

    began = time.perf_counter()
    stock = bulk_copy(StoreStock, ["store_id", "product_id", "quantity", "updated_at"], stock_rows())
    log(f"{stock} stock rows in {time.perf_counter() - began:.1f} s")
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE customers_product; ANALYZE customers_storestock; ANALYZE associates_store")
    return {"products": product_rows, "stock_rows": stock}


def _mix(rng: random.Random, catalogue: dict, count: int) -> list[tuple[str, dict]]:
    products = catalogue["products"]
    words = [*MATERIALS, *STYLES, *COLOURS, *ITEM_WORDS.values()]
    mix = []
    for n in range(count):
        kind = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
        sku, name, category, _, _, price, _, barcode, *_ = rng.choice(products)
        if kind in ("name", "name_in_stock"):
            # a word of the vocabulary, or 2 to 5 characters cut from a real name
            stem = name.split()[0]
            start = rng.randrange(0, max(1, len(stem) - 1))
            word = rng.choice(words) if n % 2 else stem[start : start + rng.randint(2, 5)]
            params = {"q": word, **({"in_stock": "true"} if kind == "name_in_stock" else {})}
        elif kind == "sku_prefix":
            params = {"q": sku[: rng.randint(5, len(sku))]}
        elif kind == "barcode":
            params = {"barcode": f"EAN_13,{barcode}"}
        elif kind == "category_price":
            low = int(price) // 500 * 500
            params = {"category": category, "price_min": str(low), "price_max": str(low + 500)}
        else:
            params = {"category": category, "in_stock": "true"}
        mix.append((kind, params))
    return mix
