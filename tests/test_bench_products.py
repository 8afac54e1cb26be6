"""bench products at a tiny size: the catalogue it loads by COPY, and one JSON-ready set of figures with the target."""

import json

import pytest

from bench.management.commands.bench import Command
from bench.products import TARGET_P95_MS, run
from customers.models import Product, StoreStock

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_tiny_run_loads_the_catalogue_and_times_every_kind_of_search():
    figures = run(scale=1, log=lambda _: None, skus=50, stores=3, stock_share=0.4, queries=30)

    # 10 styles × 5 sizes; each store stocks 40% of them
    assert (figures["skus"], figures["stores"], figures["stock_rows"]) == (50, 3, 60)
    assert Product.objects.filter(style_code="BP000001").count() == 5
    assert StoreStock.objects.count() == 60
    assert figures["queries"] == 30
    assert set(figures["search_ms"]) == {"p50", "p95", "max"}
    assert figures["target_p95_ms"] == TARGET_P95_MS
    assert figures["meets_target"] == (figures["search_ms"]["p95"] <= TARGET_P95_MS)
    # every barcode searched is one of the catalogue's
    assert "barcode" not in figures["by_kind_ms"] or figures["queries_with_results"] > 0
    json.dumps(figures)


def test_the_options_parse():
    options = (
        Command()
        .create_parser("manage.py", "bench")
        .parse_args(["products", "--skus", "1000", "--stores", "5", "--stock-share", "0.5", "--queries", "20"])
    )
    assert (options.skus, options.stores, options.stock_share, options.queries) == (1000, 5, 0.5, 20)
