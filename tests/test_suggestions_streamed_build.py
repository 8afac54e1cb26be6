"""The streamed build (chunks of whole customers, memory bounded by the model) builds the model the in-memory build
builds from the same lines: every field compared, sparse patterns and integers exactly, floats within 1e-9 (the
ranker, fitted by an optimizer on those floats, within 1e-6); on the engine alone with the ranker's sample and the
top-N cut both in play, and end to end from the database (PostgreSQL's COPY stream cut into chunks of a few lines,
or SQLite's plain read), merged customers, cancelled orders and returns included."""

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from django.utils import timezone

from bench.suggestions import baskets_generate
from customers.models import Customer, Order, OrderLine, Product
from customers.selectors import customer_survivor_ids
from suggestions import engine, services
from suggestions.models import ComplementRule
from suggestions.selectors import suggestion_caches_clear, suggestion_model_current
from tests.factories import CustomerFactory, ProductFactory, StoreFactory


def assert_same_model(streamed: engine.Model, in_memory: engine.Model, path: str = "model") -> None:
    if dataclasses.is_dataclass(in_memory):
        for field in dataclasses.fields(in_memory):
            assert_same_model(getattr(streamed, field.name), getattr(in_memory, field.name), f"{path}.{field.name}")
    elif sp.issparse(in_memory):
        assert streamed.shape == in_memory.shape, path
        assert ((streamed != 0) != (in_memory != 0)).nnz == 0, f"{path}: other entries kept"
        assert np.allclose(streamed.toarray(), in_memory.toarray(), rtol=1e-6, atol=0), path
    elif isinstance(in_memory, np.ndarray):
        assert streamed.shape == in_memory.shape and streamed.dtype == in_memory.dtype, path
        if in_memory.dtype.kind == "f":
            rtol = 1e-6 if path.startswith("model.ranker") else 1e-9
            assert np.allclose(streamed, in_memory, rtol=rtol, atol=1e-12, equal_nan=True), path
        else:
            assert np.array_equal(streamed, in_memory), path
    elif isinstance(in_memory, pd.Index):
        assert streamed.equals(in_memory) and list(streamed) == list(in_memory), path
    elif isinstance(in_memory, tuple):
        assert len(streamed) == len(in_memory), path
        for n, (a, b) in enumerate(zip(streamed, in_memory, strict=True)):
            assert_same_model(a, b, f"{path}[{n}]")
    elif isinstance(in_memory, float):
        assert streamed == pytest.approx(in_memory, rel=1e-6), path
    else:
        assert streamed == in_memory, path


def chunks_of(lines: pd.DataFrame, size: int):
    """The lines, sorted by customer, in chunks of about `size` lines that never split a customer."""
    customer = lines["customer_id"].to_numpy()
    day = lines["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    item = lines["item_id"].to_numpy()
    start = 0
    while start < len(customer):
        stop = int(np.searchsorted(customer, customer[min(start + size, len(customer)) - 1], side="right"))
        yield customer[start:stop], day[start:stop], item[start:stop]
        start = stop


def test_a_streamed_build_is_the_in_memory_build_with_the_rankers_sample_and_the_top_n_cut():
    # given 60,000 generated lines (6,000 customers) of 20,000 items, sorted by customer, date and item; a ranker
    # sample smaller than the customers who qualify, few neighbours kept per item, a catalog with categories,
    # styles and rules
    lines = baskets_generate(60_000, seed=3).sort_values(["customer_id", "date", "item_id"], ignore_index=True)
    params = engine.Params(ranker_customers=400, neighbours_per_item=8)
    items = np.unique(lines["item_id"])
    catalog = {
        "item_categories": pd.Series(np.where(items % 3 == 0, "dress", "belt"), index=items),
        "item_group": pd.Series(items // 4, index=items),
        "category_rules": {"dress": ["belt"]},
    }
    now = lines["date"].max() + pd.Timedelta(days=2)

    # when it is built at once, and streamed in 17 chunks
    in_memory = engine.model_build(lines, now=now, params=params, **catalog)
    streamed = engine.model_build_streamed(chunks_of(lines, 3_500), now=now, params=params, **catalog)

    # then the models are the same, the ranker fitted on the sample and neighbours cut at 8
    assert in_memory.ranker.fitted and in_memory.baskets > 10_000
    assert np.diff(in_memory.stats.similarity.indptr).max() == 8
    assert_same_model(streamed, in_memory)


def test_a_chunk_that_splits_a_customer_or_goes_back_is_refused():
    lines = baskets_generate(2_000, seed=1).sort_values(["customer_id", "date", "item_id"], ignore_index=True)
    whole = list(chunks_of(lines, 500))
    split = [tuple(column[:-1] for column in whole[0]), tuple(column[-1:] for column in whole[0]), *whole[1:]]

    for chunks in (split, [whole[1], whole[0]]):
        with pytest.raises(ValueError, match="whole customers"):
            engine.model_build_streamed(iter(chunks))


@pytest.fixture
def history(db):
    """400 customers (5 of them merged into others) buying 60 products over 200 days, with cancelled and returned
    orders and negative lines that are not purchases."""
    rng = random.Random(7)
    store = StoreFactory()
    categories = ["dress", "belt", "scarf", "serum", "cream"]
    products = [
        ProductFactory(sku=f"P{n:03d}", category=categories[n % 5], style_code=f"S{n // 3}" if n % 2 else "")
        for n in range(60)
    ]
    ComplementRule.objects.create(category="dress", complements="belt")
    customers = CustomerFactory.create_batch(400)
    for merged, survivor in zip(customers[:5], customers[-5:], strict=True):
        Customer.objects.filter(pk=merged.pk).update(merged_into=survivor)
    start = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    orders, lines = [], []
    for customer in customers:
        taste = rng.sample(products, 6)
        for day in rng.sample(range(200), rng.randint(1, 5)):
            status = rng.choices(list(Order.Status), weights=[1, 1, 12, 1, 1])[0]
            order = Order(
                channel="store_pos",
                external_id=f"T{len(orders)}",
                store=store,
                customer=customer,
                placed_at=start + timedelta(days=day, hours=rng.choice([0, 17])),  # 17h UTC: the next local day
                status=status,
            )
            orders.append(order)
            for line_no, product in enumerate([*rng.sample(taste, rng.randint(1, 4)), rng.choice(products)], 1):
                quantity = -1 if rng.random() < 0.03 else 1
                lines.append((order, OrderLine(line_no=line_no, product=product, quantity=quantity, unit_price=1)))
    Order.objects.bulk_create(orders)
    for order, line in lines:
        line.order = order
    OrderLine.objects.bulk_create([line for _, line in lines])
    return products


def in_memory_lines() -> pd.DataFrame:
    """The kept lines, read with the ORM: surviving customer, local date, product; sorted."""
    survivor = customer_survivor_ids()
    rows = OrderLine.objects.filter(order__customer__isnull=False, quantity__gt=0).exclude(
        order__status__in=[Order.Status.CANCELLED, Order.Status.RETURNED]
    )
    frame = pd.DataFrame(
        [
            (survivor.get(customer, customer), timezone.localdate(placed_at), product)
            for customer, placed_at, product in rows.values_list("order__customer_id", "order__placed_at", "product_id")
        ],
        columns=["customer_id", "date", "item_id"],
    )
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.sort_values(["customer_id", "date", "item_id"], ignore_index=True)


@pytest.mark.django_db
def test_the_nightly_build_streams_the_database_into_the_model_the_in_memory_build_makes(history, monkeypatch):
    # given the history, streamed 7 lines at a time (PostgreSQL: in blocks of 8 customer ids)
    monkeypatch.setattr(services, "CHUNK_LINES", 7)
    monkeypatch.setattr(services, "CUSTOMER_BLOCK", 8)
    now = datetime(2026, 7, 25, 12, 0, tzinfo=UTC)

    # when the nightly build runs
    build = services.suggestion_model_build(now=now)

    # then it read every kept line, and its model is the in-memory build's from the same lines
    lines = in_memory_lines()
    assert (build.status, build.lines, build.baskets) == ("ready", len(lines), engine.model_build(lines).baskets)
    catalog = pd.DataFrame.from_records(
        Product.objects.values_list("pk", "category", "style_code", "sku"),
        columns=["pk", "category", "style_code", "sku"],
    ).set_index("pk")
    in_memory = engine.model_build(
        lines,
        now=timezone.localdate(now),
        item_categories=catalog["category"][catalog["category"] != ""],
        category_rules={"dress": ("belt",)},
        item_group=catalog["style_code"].where(catalog["style_code"] != "", catalog["sku"]),
    )
    suggestion_caches_clear()
    streamed = suggestion_model_current().model
    assert in_memory.ranker.fitted
    assert_same_model(streamed, in_memory)
    assert Decimal(build.peak_mb) > 0
