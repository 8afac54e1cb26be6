"""The add-on suggestion engine: what to suggest to one customer, and what goes with given items.

Pure numpy / scipy.sparse / pandas, no Django: the nightly job builds a `Model` from all orders with
`model_build_streamed` (chunks of whole customers, memory bounded by the model; `model_build` is the same build
over lines held at once) and pickles it; the web process reloads it and answers `suggest` (one customer, from the
history passed at call time) and `complements_for` (add-ons for these items).

How a customer's suggestions are ranked:
1. Candidates: everything the customer bought, the items that co-occur most with their history (item-item
   cosine over baskets, time-decayed), the items that manager rules attach to the categories they bought, and
   the most popular items of late.
2. Each candidate gets the features in `FEATURES`: the customer's own basket-decayed purchase share, recency in
   baskets, the item's repeat rate, the complement score, the next-basket score (how strongly the items of the
   customer's baskets are followed by it in customers' next baskets: the transitions of FPMC), recent and
   all-time popularity.
3. A logistic ranker weighs them. `model_build` fits it on the data it is given: a sample of customers' last
   baskets are the labels and the rest of their histories the input, with the item statistics of that fit
   computed without those baskets so that no label leaks into a feature. With too little data it uses fixed
   weights.
4. Items bought too recently to be due again are dropped (`exclude_recent`), unsellable ones skipped,
   near-identical variants (`item_group`) keep only their best item, and every suggestion carries its reason.

The personal part is computed from the history passed to `suggest`, so orders since the nightly build count
at once. Dates are days: a basket is one customer's distinct items on one date; aware datetimes are read in
UTC, so pass local dates where the day boundary matters.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import tempfile
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit

FEATURES = (
    "decayed_share",  # Σ decay^ago over the customer's baskets holding the item / Σ decay^ago over all of them
    "share",  # share of the customer's baskets holding the item
    "in_last_basket",
    "recency",  # 1 / (1 + baskets since the one with the item's last purchase); 0 if never bought
    "bought",
    "log_repeat_rate",  # how often the item's buyers buy it again in their next basket (smoothed)
    "bought_log_repeat_rate",
    "log_complement",  # log1p(100 × decayed-share-weighted mean cosine with the customer's items)
    "log_next",  # log(ε + the basket-decayed mean over their baskets of the mean transition cosine from its items)
    "log_popularity_recent",  # log share of time-decayed baskets holding the item
    "log_popularity",  # log share of all baskets holding the item
    "bought_log_baskets",  # bought × log(the customer's basket count): long histories repeat more
)
# When the data is too small to fit the ranker: the customer's own items first (frequent and recent ones first),
# then complements, then popular items.
_FALLBACK_WEIGHTS = np.array([4.0, 1.0, 0.5, 0.5, 3.0, 0.0, 0.0, 0.5, 0.0, 0.1, 0.05, 0.0])
_MIN_LABELS = 20  # positive and negative examples, each, to fit the ranker
_RANKER_CHUNK = 500  # customers per feature batch while fitting: bounds memory
_BLOCK_NONZEROS = 10_000_000  # bound on the entries of one row block of the item-item product: bounds memory
# … and of a block of the summed products a streamed build normalizes: they are exact, where the bound above is
# loose, and the block's copies come beside sums already as large as the model allows.
_SUMMED_BLOCK_NONZEROS = 2_000_000
_GATHER_ROWS = 16  # up to this many customers, complement scores gather similarity rows instead of a product
_DENSE_SUMS = 1 << 20  # … and add them up in a dense array of customers × items up to this size
_EPS = 1e-7
_NEXT_FLOOR = 1e-4  # added to transition scores before the log: a cosine far below this is no signal


class Reason(enum.StrEnum):
    REPEAT = "repeat"  # bought before: days_since
    COMPLEMENT = "complement"  # often bought with anchor_item_id
    RULE = "rule"  # a manager's rule attaches it to anchor_category
    POPULAR = "popular"


@dataclasses.dataclass(frozen=True)
class Params:
    """Hyper-parameters. The serve-time ones may be replaced on a built model with `model_with_params`."""

    # Build time.
    cooccurrence_half_life_days: float = 365.0  # a basket's weight in the item-item cosine halves every …
    popularity_half_life_days: float = 30.0  # … and in recent popularity
    neighbours_per_item: int = 100  # complements kept per item (top-N of each item-item row)
    repeat_rate_prior: float = 5.0  # pseudo-observations pulling an item's repeat rate towards the overall one
    basket_decay: float = 0.9  # weight of a customer's basket = basket_decay ** (their baskets since)
    ranker_customers: int = 5_000  # customers sampled to fit the ranker (a dozen weights need few)
    ranker_l2: float = 1.0
    seed: int = 0
    # Serve time.
    candidates: int = 50  # complement candidates and popular candidates per customer, each
    replenish_fraction: float = 0.5  # not yet due: days since the last purchase < this × repurchase interval
    default_interval_days: float = 90.0  # repurchase interval of an item nobody bought twice
    rule_similarity: float = 0.2  # the cosine a category rule stands for between its source and target items
    rule_slots: int = 1  # at least this many rule suggestions in a result when a rule applies
    complement_min_similarity: float = 0.02  # weaker co-occurrence is not shown as "often bought together"


SERVE_TIME_PARAMS = frozenset(
    (
        "candidates",
        "replenish_fraction",
        "default_interval_days",
        "rule_similarity",
        "rule_slots",
        "complement_min_similarity",
    )
)


@dataclasses.dataclass(frozen=True)
class Suggestion:
    item_id: Hashable
    score: float  # suggest: the ranker's probability; complements_for: the complement score
    reason: Reason
    days_since: int | None = None  # REPEAT: days since the customer last bought it
    anchor_item_id: Hashable | None = None  # COMPLEMENT: the purchase (or given item) it goes with
    anchor_category: str | None = None  # RULE: the category of the purchase (or given item) the rule starts from


@dataclasses.dataclass(frozen=True)
class _ItemStats:
    similarity: sp.csr_matrix  # items × items cosine, top-N per row, no diagonal
    transition: sp.csr_matrix  # items × items cosine of a basket's items with the next basket's, top-N per row
    popularity: np.ndarray  # share of baskets holding the item
    popularity_recent: np.ndarray  # the same over time-decayed baskets
    repeat_rate: np.ndarray
    popular_order: np.ndarray  # item positions, most popular of late first


@dataclasses.dataclass(frozen=True)
class _Ranker:
    weights: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    bias: float
    fitted: bool  # False: too little data, the fixed fallback weights

    def probability(self, features: np.ndarray) -> np.ndarray:
        return expit(((features - self.mean) / self.scale) @ self.weights + self.bias)


@dataclasses.dataclass(frozen=True)
class Model:
    """Everything serving needs; picklable."""

    params: Params
    items: pd.Index  # item ids; an item's position indexes every per-item array
    stats: _ItemStats
    ranker: _Ranker
    interval_days: np.ndarray  # median days between a customer's consecutive purchases of the item; nan if none
    item_group: np.ndarray  # variant group code; an item without a group is a group of its own
    item_category: np.ndarray  # category code, -1 for none
    categories: pd.Index  # category names by code
    category_items: tuple[np.ndarray, ...]  # per category: its items, never-sold ones first, then most popular
    rules: tuple[tuple[int, ...], ...]  # per category: the categories that complement it
    built_day: int  # days since 1970-01-01
    baskets: int


def model_with_params(model: Model, **changes: Any) -> Model:
    """The model with other serve-time parameters; build-time ones need a new build."""
    if unknown := set(changes) - SERVE_TIME_PARAMS:
        raise ValueError(f"Not serve-time parameters: {sorted(unknown)}")
    return dataclasses.replace(model, params=dataclasses.replace(model.params, **changes))


def model_with_rules(model: Model, category_rules: Mapping[str, Iterable[str]]) -> Model:
    """The model with other category rules (an admin edit) between the categories it was built with."""
    return dataclasses.replace(model, rules=_rules(model.categories, category_rules))


# ---------------------------------------------------------------------------------------------------------
# Building


def model_build(
    baskets: pd.DataFrame,
    *,
    now: Any = None,
    params: Params | None = None,
    item_categories: Mapping[Hashable, str] | pd.Series | None = None,
    category_rules: Mapping[str, Iterable[str]] | None = None,
    item_group: Mapping[Hashable, Hashable] | pd.Series | None = None,
) -> Model:
    """Build the model from order lines: columns customer_id, date, item_id (a row per item bought).

    `now` (default: the last date in `baskets`) is the day time decay counts from. `item_categories`
    (item → category) and `item_group` (item → style or family) may name catalog items never sold;
    `category_rules` maps a category to the categories that complement it, e.g. {"dress": ["belt", "scarf"]}.
    """
    params = params or Params()
    baskets = baskets.dropna(subset=["customer_id", "date", "item_id"])
    # Factorized column by column: never a Python object per order line.
    item, sold = pd.factorize(baskets["item_id"])
    items = _item_index(sold, item_categories, item_group)
    day = _days(baskets["date"])
    built_day = _day(now) if now is not None else (int(day.max()) if len(day) else 0)
    table = _Purchases.of(pd.factorize(baskets["customer_id"])[0], day, item)
    del item, day
    n_items = len(items)
    # Purchases by customer, then item, then time: the order repeat rates and intervals read.
    by_item = np.lexsort((table.basket, table.customer.astype(np.int64) * n_items + table.item))

    label = _ranker_label_baskets(table, params)
    basket_weight = 0.5 ** ((built_day - table.basket_day) / params.cooccurrence_half_life_days)
    similarity_base, similarity = _cosine_pair(table, ~label, basket_weight, n_items, params.neighbours_per_item)
    transition_base, transition = _transition_pair(table, ~label, basket_weight, n_items, params.neighbours_per_item)
    del basket_weight
    base_stats = _item_stats(table, ~label, (similarity_base, transition_base), by_item, built_day, n_items, params)
    del similarity_base, transition_base
    ranker = _ranker_fit(table, label, base_stats, params)

    categories, item_category = _categories(items, item_categories)
    everything = np.ones(table.n_baskets, dtype=bool)
    stats = _seed_unsold(
        _item_stats(table, everything, (similarity, transition), by_item, built_day, n_items, params), item_category
    )
    return _model_assemble(
        params=params,
        items=items,
        stats=stats,
        ranker=ranker,
        interval_days=_repurchase_intervals(table, by_item, n_items),
        item_group=item_group,
        categories=categories,
        item_category=item_category,
        category_rules=category_rules,
        built_day=built_day,
        baskets=table.n_baskets,
        sold=np.bincount(table.item, minlength=n_items) > 0,
    )


def _model_assemble(
    *,
    params: Params,
    items,
    stats: _ItemStats,
    ranker,
    interval_days: np.ndarray,
    item_group,
    categories,
    item_category: np.ndarray,
    category_rules,
    built_day: int,
    baskets: int,
    sold: np.ndarray,
) -> Model:
    """The model from what either build computed (`sold`: whether each item sold at all): each category's items,
    sold ones first, then by popularity, and the groups and rules looked up."""
    category_items = []
    for code in range(len(categories)):
        members = np.flatnonzero(item_category == code)
        category_items.append(members[np.lexsort((-stats.popularity[members], sold[members]))])
    return Model(
        params=params,
        items=items,
        stats=stats,
        ranker=ranker,
        interval_days=interval_days,
        item_group=_groups(items, item_group),
        item_category=item_category,
        categories=categories,
        category_items=tuple(category_items),
        rules=_rules(categories, category_rules),
        built_day=built_day,
        baskets=baskets,
    )


def model_build_streamed(
    chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    now: Any = None,
    params: Params | None = None,
    item_categories: Mapping[Hashable, str] | pd.Series | None = None,
    category_rules: Mapping[str, Iterable[str]] | None = None,
    item_group: Mapping[Hashable, Hashable] | pd.Series | None = None,
    spool_dir: str | os.PathLike | None = None,
) -> Model:
    """`model_build` from order lines that arrive in chunks, in memory bounded by the model and one chunk.

    Each chunk is three arrays (customer_id, day, item_id), day in days since 1970-01-01, holding every line of
    its customers, whose ids are greater than those of the chunks before. The model is the one `model_build` builds
    from the same lines sorted by customer, date and item, within float tolerance: sums add up chunk by chunk in
    float64, where `model_build` sums the co-occurrence of all baskets at once in float32.

    Two passes: the first numbers the items (in order of first appearance, as `model_build` does), counts the
    customers the ranker may sample (its sample needs their number before any item statistic is summed) and spools
    each chunk's distinct purchases, 12 bytes each, to a temporary directory in `spool_dir`; the second adds up the
    chunks' co-occurrence and item statistics and keeps the sampled customers' histories to fit the ranker.
    """
    params = params or Params()
    with tempfile.TemporaryDirectory(prefix="suggestions-build-", dir=spool_dir) as directory:
        spool = _spool_chunks(chunks, Path(directory))
        return _model_from_spool(spool, now, params, item_categories, category_rules, item_group)


@dataclasses.dataclass
class _Spool:
    """The first pass's findings: the chunks' distinct purchases on disk, and what the second pass needs first."""

    directory: Path
    sold: pd.Index  # item ids, in order of first appearance
    chunks: list[tuple[int, int]]  # per spooled chunk: customers and eligible customers before it
    eligible: int = 0  # customers with two baskets or more: those the ranker may sample
    baskets: int = 0
    last_day: int | None = None

    def path(self, n: int) -> Path:
        return self.directory / f"{n}.npy"


def _spool_chunks(chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], directory: Path) -> _Spool:
    spool = _Spool(directory, pd.Index([]), [])
    customers, last_customer = 0, None
    for customer_id, day, item_id in chunks:
        if len(customer_id) == 0:
            continue
        customer_ids, customer = np.unique(np.asarray(customer_id), return_inverse=True)
        if last_customer is not None and customer_ids[0] <= last_customer:
            raise ValueError("Each chunk must hold whole customers, in ascending customer order.")
        last_customer = customer_ids[-1]
        item_ids, item = np.unique(np.asarray(item_id), return_inverse=True)
        day = np.asarray(day, dtype=np.int64)
        table = _Purchases.of(customer, day, item)  # distinct purchases by customer, day and item id
        first_seen = item_ids[pd.unique(table.item)]
        new = first_seen[spool.sold.get_indexer(first_seen) < 0]
        if len(new):
            spool.sold = spool.sold.append(pd.Index(new))
        code = spool.sold.get_indexer(item_ids).astype(np.int32)
        np.save(spool.path(len(spool.chunks)), np.stack([table.customer, table.day, code[table.item]]))
        spool.chunks.append((customers, spool.eligible))
        customers += len(customer_ids)
        spool.eligible += int(np.count_nonzero(np.bincount(table.basket_customer) >= 2))
        spool.baskets += table.n_baskets
        spool.last_day = max(spool.last_day or int(day.max()), int(day.max()))
    return spool


class _ProductSums:
    """Σ LᵀR over the chunks, in float64, over the base part and the other part apart, with the column sums of
    their squared entries: `_cosine_products` once every chunk is in. A symmetric product (XᵀX, the co-occurrence
    of the cosine, whose diagonal it leaves out) is summed as its upper triangle: half the entries in hand while the
    chunks add up, when they are most."""

    def __init__(self, n_items: int, *, symmetric: bool):
        empty = sp.csr_matrix((n_items, n_items), dtype=np.float64)
        self.symmetric = symmetric
        self.products = [empty, empty]
        self.left_counts = [np.zeros(n_items), np.zeros(n_items)]
        self.right_counts = [np.zeros(n_items), np.zeros(n_items)]

    def add(self, lefts: list, rights: list, left_counts: tuple, right_counts: tuple) -> None:
        for part in (0, 1):
            product = lefts[part].T.astype(np.float64).tocsr() @ rights[part].astype(np.float64)
            if self.symmetric:
                product = sp.triu(product, k=1, format="csr")
            self.products[part] = sp.csr_matrix(self.products[part] + product)
            self.left_counts[part] += left_counts[part]
            self.right_counts[part] += right_counts[part]

    def top(self, top_n: int, *, diagonal: bool) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        upper = self.products
        lower = [product.T.tocsr() for product in upper] if self.symmetric else []
        norms = _cosine_norms(tuple(self.left_counts), tuple(self.right_counts))
        found: tuple[list, list] = ([], [])
        row_entries = sum(np.diff(product.indptr) for product in upper + lower)
        for start, stop in _blocks(row_entries, _SUMMED_BLOCK_NONZEROS):
            base_product, other_product = (
                product[start:stop] + triangle[start:stop] if self.symmetric else product[start:stop]
                for product, triangle in zip(upper, lower or upper, strict=True)
            )
            all_product = base_product + other_product
            for part, product in enumerate((base_product, all_product)):
                product = sp.csr_matrix(product, dtype=np.float32)
                found[part].append(_cosine_top(product, start, *norms[part], top_n, diagonal=diagonal))
        return _stacked(found, upper[0].shape[0])


def _model_from_spool(
    spool: _Spool,
    now: Any,
    params: Params,
    item_categories: Mapping | pd.Series | None,
    category_rules: Mapping[str, Iterable[str]] | None,
    item_group: Mapping | pd.Series | None,
) -> Model:
    items = _item_index(spool.sold, item_categories, item_group)
    n_items = len(items)
    built_day = _day(now) if now is not None else (spool.last_day or 0)
    sampled = np.arange(spool.eligible)
    if spool.eligible > params.ranker_customers:
        # The positions `_ranker_label_baskets` draws among the eligible customers' last baskets.
        rng = np.random.default_rng(params.seed)
        sampled = np.sort(rng.choice(spool.eligible, params.ranker_customers, replace=False))
    cosine, transition = _ProductSums(n_items, symmetric=True), _ProductSums(n_items, symmetric=False)
    base_sums = all_sums = _ItemSums(np.zeros(n_items), 0, np.zeros(n_items), 0.0, np.zeros(n_items), np.zeros(n_items))
    sold = np.zeros(n_items, dtype=np.int64)
    gaps = _KeyCounts()  # repurchases by item << 32 | gap in days
    label_rows: list[np.ndarray] = []
    for n, (customers_before, eligible_before) in enumerate(spool.chunks):
        customer, day, item = np.load(spool.path(n))
        table = _Purchases.of(customer, day, item)
        baskets_per_customer = np.bincount(table.basket_customer)
        eligible = np.flatnonzero(baskets_per_customer >= 2)
        is_label_customer = np.zeros(len(baskets_per_customer), dtype=bool)
        is_label_customer[eligible[np.isin(eligible_before + np.arange(len(eligible)), sampled)]] = True
        label = (table.basket_ago == 0) & is_label_customer[table.basket_customer]
        by_item = np.lexsort((table.basket, table.customer.astype(np.int64) * n_items + table.item))
        basket_weight = 0.5 ** ((built_day - table.basket_day) / params.cooccurrence_half_life_days)
        parts, counts = _cosine_parts(table, ~label, basket_weight, n_items)
        cosine.add(parts, parts, counts, counts)
        transition.add(*_transition_parts(table, ~label, basket_weight, n_items))
        base_sums += _item_sums(table, ~label, by_item, built_day, n_items, params)
        all_sums += _item_sums(table, np.ones(table.n_baskets, dtype=bool), by_item, built_day, n_items, params)
        sold += np.bincount(table.item, minlength=n_items)
        gap_item, gap = _repurchase_gaps(table, by_item)
        gaps.add(gap_item.astype(np.int64) << 32 | gap.astype(np.int64))
        in_label = is_label_customer[table.customer]
        label_rows.append(
            np.stack([table.customer[in_label] + customers_before, table.day[in_label], table.item[in_label]])
        )
    # One after the other, each sum let go once pruned to its top-N.
    transition_base, transition_all = transition.top(params.neighbours_per_item, diagonal=True)
    del transition
    similarity_base, similarity = cosine.top(params.neighbours_per_item, diagonal=False)
    del cosine
    base_stats = _item_stats_of(base_sums, (similarity_base, transition_base), params)
    label_customer, label_day, label_item = (
        np.concatenate(label_rows, axis=1) if label_rows else np.zeros((3, 0), dtype=np.int64)
    )
    labelled = _Purchases.of(np.unique(label_customer, return_inverse=True)[1], label_day, label_item)
    ranker = _ranker_fit(labelled, labelled.basket_ago == 0, base_stats, params)

    categories, item_category = _categories(items, item_categories)
    stats = _seed_unsold(_item_stats_of(all_sums, (similarity, transition_all), params), item_category)
    return _model_assemble(
        params=params,
        items=items,
        stats=stats,
        ranker=ranker,
        interval_days=_medians(gaps, n_items),
        item_group=item_group,
        categories=categories,
        item_category=item_category,
        category_rules=category_rules,
        built_day=built_day,
        baskets=spool.baskets,
        sold=sold > 0,
    )


class _KeyCounts:
    """How often each int64 key was added: each chunk's counts kept apart until they outweigh the totals."""

    def __init__(self):
        self.keys, self.counts = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, keys: np.ndarray) -> None:
        self.pending.append(np.unique(keys, return_counts=True))
        if sum(len(keys) for keys, _ in self.pending) > max(len(self.keys), 1 << 20):
            self.merge()

    def merge(self) -> None:
        keys = np.concatenate([self.keys, *(keys for keys, _ in self.pending)])
        counts = np.concatenate([self.counts, *(counts for _, counts in self.pending)])
        self.keys, at = np.unique(keys, return_inverse=True)
        self.counts = np.bincount(at, weights=counts, minlength=len(self.keys)).astype(np.int64)
        self.pending = []


def _medians(counts: _KeyCounts, n_items: int) -> np.ndarray:
    """Per item, the median of the values counted under item << 32 | value; nan for an item without any."""
    medians = np.full(n_items, np.nan)
    counts.merge()
    if len(counts.keys) == 0:
        return medians
    item, value = counts.keys >> 32, (counts.keys & 0xFFFFFFFF).astype(np.float64)
    ends = np.cumsum(counts.counts)  # keys are sorted: by item, then value
    starts = np.flatnonzero(np.r_[True, item[1:] != item[:-1]])
    before = np.r_[0, ends][starts]
    total = np.add.reduceat(counts.counts, starts)
    low = np.searchsorted(ends, before + (total - 1) // 2, side="right")
    high = np.searchsorted(ends, before + total // 2, side="right")
    medians[item[starts]] = (value[low] + value[high]) / 2
    return medians


@dataclasses.dataclass(frozen=True)
class _Purchases:
    """Distinct (customer, day, item) rows sorted by customer and day, with their baskets."""

    customer: np.ndarray
    day: np.ndarray
    item: np.ndarray
    basket: np.ndarray  # basket id, increasing with (customer, day)
    basket_customer: np.ndarray  # per basket
    basket_day: np.ndarray  # per basket
    basket_ago: np.ndarray  # per basket: the customer's baskets after it (0 = their most recent)

    @property
    def n_baskets(self) -> int:
        return len(self.basket_customer)

    @classmethod
    def of(cls, customer: np.ndarray, day: np.ndarray, item: np.ndarray) -> _Purchases:
        first_day = int(day.min()) if len(day) else 0
        day_span = int(day.max()) - first_day + 1 if len(day) else 1
        n_items = int(item.max()) + 1 if len(item) else 1
        # One int64 key per row, built in place: sorting it orders by customer, day, item in a single pass.
        key = np.asarray(customer, dtype=np.int64) * day_span
        key += day
        key -= first_day
        key *= n_items
        key += item
        key.sort()
        key = key[np.r_[True, key[1:] != key[:-1]][: len(key)]]
        item = (key % n_items).astype(np.int32)
        key //= n_items  # now per row: its basket's (customer, day)
        new_basket = np.r_[True, key[1:] != key[:-1]][: len(key)]
        basket = (np.cumsum(new_basket) - 1).astype(np.int32)
        basket_key = key[new_basket]
        del key
        basket_customer = (basket_key // day_span).astype(np.int32)
        basket_day = (basket_key % day_span + first_day).astype(np.int32)
        starts = np.flatnonzero(np.r_[True, basket_customer[1:] != basket_customer[:-1]])
        ends = np.append(starts[1:], len(basket_customer))
        basket_ago = (np.repeat(ends, ends - starts) - 1 - np.arange(len(basket_customer))).astype(np.int32)
        return cls(basket_customer[basket], basket_day[basket], item, basket, basket_customer, basket_day, basket_ago)


def _ranker_label_baskets(table: _Purchases, params: Params) -> np.ndarray:
    """Per basket: is it the last basket of a customer sampled to fit the ranker (among those with 2+ baskets)."""
    baskets_per_customer = np.bincount(table.basket_customer)
    eligible = np.flatnonzero((table.basket_ago == 0) & (baskets_per_customer[table.basket_customer] >= 2))
    if len(eligible) > params.ranker_customers:
        eligible = np.sort(np.random.default_rng(params.seed).choice(eligible, params.ranker_customers, replace=False))
    label = np.zeros(table.n_baskets, dtype=bool)
    label[eligible] = True
    return label


@dataclasses.dataclass(frozen=True)
class _ItemSums:
    """The additive parts of `_ItemStats` over a set of baskets: those of customers taken apart add up."""

    counts: np.ndarray  # per item: the baskets holding it
    baskets: int
    recent: np.ndarray  # per item: Σ recency weight of the baskets holding it
    recent_total: float  # Σ recency weight of the baskets
    repeats: np.ndarray  # per item: purchases followed by one in the customer's next basket
    chances: np.ndarray  # per item: purchases in a basket the customer has a next one of

    def __add__(self, other: _ItemSums) -> _ItemSums:
        return _ItemSums(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))


def _item_stats(
    table: _Purchases,
    baskets: np.ndarray,
    similarity: tuple[sp.csr_matrix, sp.csr_matrix],
    by_item: np.ndarray,
    built_day: int,
    n_items: int,
    params: Params,
) -> _ItemStats:
    """Item statistics over the given baskets (a mask), with their (cosine, transition) matrices."""
    return _item_stats_of(_item_sums(table, baskets, by_item, built_day, n_items, params), similarity, params)


def _item_sums(
    table: _Purchases, baskets: np.ndarray, by_item: np.ndarray, built_day: int, n_items: int, params: Params
) -> _ItemSums:
    rows = baskets[table.basket]
    counts = np.bincount(table.item[rows], minlength=n_items).astype(np.float64)
    recent_weight = np.where(baskets, 0.5 ** ((built_day - table.basket_day) / params.popularity_half_life_days), 0)
    recent = np.bincount(table.item, weights=recent_weight[table.basket], minlength=n_items)
    repeats, chances = _repeat_counts(table, baskets, by_item, n_items)
    return _ItemSums(counts, int(np.count_nonzero(baskets)), recent, float(recent_weight.sum()), repeats, chances)


def _item_stats_of(sums: _ItemSums, similarity: tuple[sp.csr_matrix, sp.csr_matrix], params: Params) -> _ItemStats:
    recent = sums.recent / max(sums.recent_total, _EPS)
    overall = sums.repeats.sum() / max(sums.chances.sum(), 1.0)
    prior = params.repeat_rate_prior
    return _ItemStats(
        similarity=similarity[0],
        transition=similarity[1],
        popularity=sums.counts / max(sums.baskets, 1),
        popularity_recent=recent,
        # P(item in the customer's next basket | item in this one), smoothed.
        repeat_rate=(sums.repeats + prior * overall) / (sums.chances + prior) + _EPS,
        popular_order=np.lexsort((-sums.counts, -recent)),
    )


def _repeat_counts(
    table: _Purchases, baskets: np.ndarray, by_item: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per item, among the given baskets: purchases repeated in the customer's next basket, and purchases that
    had a next basket."""
    kept = np.flatnonzero(baskets)
    successor = np.full(table.n_baskets, -1, dtype=np.int64)
    same_customer = table.basket_customer[kept[1:]] == table.basket_customer[kept[:-1]]
    successor[kept[:-1][same_customer]] = kept[1:][same_customer]
    rows = by_item[baskets[table.basket[by_item]]]
    item, basket = table.item[rows], table.basket[rows]
    # Consecutive rows of one item in consecutive baskets: successor ids never cross customers.
    follows = (item[1:] == item[:-1]) & (basket[1:] == successor[basket[:-1]])
    repeats = np.bincount(item[:-1][follows], minlength=n_items).astype(np.float64)
    chances = np.bincount(item[successor[basket] >= 0], minlength=n_items).astype(np.float64)
    return repeats, chances


def _repurchase_intervals(table: _Purchases, by_item: np.ndarray, n_items: int) -> np.ndarray:
    """Median days between consecutive purchases of the item by one customer; nan if nobody bought it twice."""
    item, gap = _repurchase_gaps(table, by_item)
    gaps = pd.Series(gap).groupby(item).median()
    intervals = np.full(n_items, np.nan)
    intervals[gaps.index.to_numpy()] = gaps.to_numpy()
    return intervals


def _repurchase_gaps(table: _Purchases, by_item: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(item, days since the customer's previous purchase of it) of every repurchase."""
    customer, item, day = table.customer[by_item], table.item[by_item], table.day[by_item]
    again = (customer[1:] == customer[:-1]) & (item[1:] == item[:-1])
    return item[1:][again], (day[1:] - day[:-1])[again]


def _cosine_pair(
    table: _Purchases, base: np.ndarray, basket_weight: np.ndarray, n_items: int, top_n: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Time-decayed item-item cosine over the `base` baskets and over all baskets, each pruned to top-N per row.

    Co-occurrence adds up over baskets, so both come from one pass over row blocks of XᵀX (X: baskets × items,
    entries √weight), the blocks sized to bound memory whatever the catalogue.
    """
    parts, counts = _cosine_parts(table, base, basket_weight, n_items)
    basket_sizes = np.bincount(table.basket, minlength=table.n_baskets)
    # A row's non-zeros are at most the summed sizes of the baskets holding its item.
    row_bound = np.bincount(table.item, weights=basket_sizes[table.basket], minlength=n_items)
    return _cosine_products(parts, parts, counts, counts, row_bound, top_n, diagonal=False)


def _cosine_parts(
    table: _Purchases, base: np.ndarray, basket_weight: np.ndarray, n_items: int
) -> tuple[list[sp.csr_matrix], tuple[np.ndarray, np.ndarray]]:
    """X over the base baskets and over the others; the items' summed weights over the base and over all."""
    weight = basket_weight[table.basket]
    in_base = base[table.basket]
    parts = [_basket_matrix(table, rows, weight, table.basket, n_items) for rows in (in_base, ~in_base)]
    counts = (
        np.bincount(table.item[in_base], weights=weight[in_base], minlength=n_items),
        np.bincount(table.item, weights=weight, minlength=n_items),
    )
    return parts, counts


def _transition_pair(
    table: _Purchases, base: np.ndarray, basket_weight: np.ndarray, n_items: int, top_n: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Time-decayed cosine between the items of a basket and those of the customer's next basket (the first-order
    Markov chain of FPMC, Rendle et al. 2010), over the pairs of `base` baskets and over all, top-N per row.

    As in `_cosine_pair`, one pass over row blocks of PᵀX, where P holds each basket's predecessor's items in the
    basket's row. The diagonal stays: an item followed by itself is a repurchase.
    """
    previous, following, from_counts, to_counts = _transition_parts(table, base, basket_weight, n_items)
    has_next = table.basket_ago > 0
    from_any = has_next[table.basket]
    next_sizes = np.append(np.bincount(table.basket, minlength=table.n_baskets)[1:], 0)
    row_bound = np.bincount(table.item[from_any], weights=next_sizes[table.basket[from_any]], minlength=n_items)
    return _cosine_products(previous, following, from_counts, to_counts, row_bound, top_n, diagonal=True)


def _transition_parts(
    table: _Purchases, base: np.ndarray, basket_weight: np.ndarray, n_items: int
) -> tuple[list[sp.csr_matrix], list[sp.csr_matrix], tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """P and X over the base pairs and the others; the items' summed weights on each side, over the base and all."""
    has_next = table.basket_ago > 0  # then the next basket is the following one
    # Labels are last baskets, so a base pair is one whose later basket is in the base.
    next_in_base, has_previous = np.zeros_like(has_next), np.zeros_like(has_next)
    next_in_base[:-1] = has_next[:-1] & base[1:]
    has_previous[1:] = has_next[:-1]
    weight = basket_weight[table.basket]
    from_base, from_any = next_in_base[table.basket], has_next[table.basket]
    to_base, to_any = (has_previous & base)[table.basket], has_previous[table.basket]
    previous = [
        _basket_matrix(table, rows, weight, table.basket + 1, n_items) for rows in (from_base, from_any & ~from_base)
    ]
    in_base = base[table.basket]
    following = [_basket_matrix(table, rows, weight, table.basket, n_items) for rows in (in_base, ~in_base)]
    from_counts, to_counts = (
        tuple(np.bincount(table.item[rows], weights=weight[rows], minlength=n_items) for rows in pair)
        for pair in ((from_base, from_any), (to_base, to_any))
    )
    return previous, following, from_counts, to_counts


def _basket_matrix(
    table: _Purchases, rows: np.ndarray, weight: np.ndarray, row_of: np.ndarray, n_items: int
) -> sp.csr_matrix:
    """baskets × items: √weight of each selected purchase row, in the row `row_of` gives it."""
    return sp.csr_matrix(
        (np.sqrt(weight[rows]).astype(np.float32), (row_of[rows], table.item[rows])), shape=(table.n_baskets, n_items)
    )


def _cosine_products(
    lefts: list[sp.csr_matrix],
    rights: list[sp.csr_matrix],
    left_counts: tuple[np.ndarray, np.ndarray],
    right_counts: tuple[np.ndarray, np.ndarray],
    row_bound: np.ndarray,
    top_n: int,
    *,
    diagonal: bool,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """LᵀR over the base part (lefts[0], rights[0]) and over both parts, cosine-normalized by the column sums of
    the squared entries, top-N per row, in row blocks of at most _BLOCK_NONZEROS bounded non-zeros."""
    n_items = len(row_bound)
    # Summed in float64, as a streamed build sums its chunks, then kept in float32.
    transposed = [left.T.tocsr().astype(np.float64) for left in lefts]
    rights = [right.astype(np.float64) for right in rights]
    norms = _cosine_norms(left_counts, right_counts)
    found: tuple[list, list] = ([], [])
    for start, stop in _blocks(row_bound, _BLOCK_NONZEROS):
        base_product = sp.csr_matrix(transposed[0][start:stop] @ rights[0])
        all_product = sp.csr_matrix(base_product + transposed[1][start:stop] @ rights[1])
        for part, product in enumerate((base_product, all_product)):
            product = sp.csr_matrix(product, dtype=np.float32)
            found[part].append(_cosine_top(product, start, *norms[part], top_n, diagonal=diagonal))
    return _stacked(found, n_items)


def _cosine_norms(
    left_counts: tuple[np.ndarray, np.ndarray], right_counts: tuple[np.ndarray, np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(left, right) norms of the base part and of both parts."""
    return [
        (1 / np.sqrt(np.maximum(left, _EPS)), 1 / np.sqrt(np.maximum(right, _EPS)))
        for left, right in zip(left_counts, right_counts, strict=True)
    ]


def _cosine_top(
    product: sp.csr_matrix,
    start: int,
    left_norm: np.ndarray,
    right_norm: np.ndarray,
    top_n: int,
    *,
    diagonal: bool,
) -> sp.csr_matrix:
    """Rows start… of a float32 product LᵀR, cosine-normalized and pruned to top-N per row."""
    # Columns in order: a sparse product's own order depends on the order of the baskets, and ties at the N-th
    # value are kept by position.
    product.sort_indices()
    rows = np.repeat(np.arange(start, start + product.shape[0]), np.diff(product.indptr))
    product.data *= (left_norm[rows] * right_norm[product.indices]).astype(np.float32)
    return _top_per_row(product, top_n, diagonal_offset=None if diagonal else start)


def _stacked(found: tuple[list, list], n_items: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    empty = sp.csr_matrix((n_items, n_items), dtype=np.float32)
    base, every = (sp.vstack(blocks, format="csr") if blocks else empty for blocks in found)
    return base, every


def _blocks(bound: np.ndarray, budget: int) -> Iterable[tuple[int, int]]:
    ends = np.cumsum(bound)
    start = 0
    while start < len(bound):
        stop = max(int(np.searchsorted(ends, ends[start] - bound[start] + budget, side="right")), start + 1)
        yield start, min(stop, len(bound))
        start = stop


def _top_per_row(matrix: sp.csr_matrix, n: int, *, diagonal_offset: int | None = None) -> sp.csr_matrix:
    """Each row's n largest positive entries; without the diagonal of a row block starting at diagonal_offset."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    keep = matrix.data > 0
    if diagonal_offset is not None:
        keep &= matrix.indices != rows + diagonal_offset
    rows, cols, data = rows[keep], matrix.indices[keep], matrix.data[keep]
    sizes = np.bincount(rows, minlength=matrix.shape[0])
    indptr = np.r_[0, np.cumsum(sizes)]
    keep = np.ones(len(rows), dtype=bool)
    # A partition per crowded row: cheaper than sorting every entry, and the kept ones stay in column order.
    for row in np.flatnonzero(sizes > n).tolist():
        start, stop = indptr[row], indptr[row + 1]
        keep[start:stop] = False
        keep[start + np.argpartition(-data[start:stop], n)[:n]] = True
    return sp.csr_matrix((data[keep], cols[keep], np.r_[0, np.cumsum(np.minimum(sizes, n))]), shape=matrix.shape)


def _ranker_fit(table: _Purchases, label: np.ndarray, stats: _ItemStats, params: Params) -> _Ranker:
    """Logistic regression of "in the customer's last basket" on the features of the rest of their history."""
    fallback = _Ranker(_FALLBACK_WEIGHTS, np.zeros(len(FEATURES)), np.ones(len(FEATURES)), 0.0, fitted=False)
    label_customers = table.basket_customer[label]  # ascending, like the baskets
    if len(label_customers) == 0:
        return fallback
    n_items = len(stats.popularity)
    is_label_customer = np.zeros(int(table.customer.max()) + 1, dtype=bool)
    is_label_customer[label_customers] = True
    in_label = label[table.basket]
    label_keys = table.customer[in_label].astype(np.int64) * n_items + table.item[in_label]
    # Their other purchases, each one basket closer to the most recent now that the last one is the label.
    rows = np.flatnonzero(is_label_customer[table.customer] & ~in_label)
    customer = table.customer[rows]
    features, targets = [], []
    for chunk in np.array_split(label_customers, -(-len(label_customers) // _RANKER_CHUNK)):
        lo, hi = np.searchsorted(customer, [chunk[0], chunk[-1] + 1])
        part = rows[lo:hi]
        history = _History(
            row=np.searchsorted(chunk, table.customer[part]),
            ago=table.basket_ago[table.basket[part]] - 1,
            item=table.item[part],
            day=table.day[part],
            n_rows=len(chunk),
        )
        candidates = _candidates(stats, history, params)
        features.append(candidates.features)
        targets.append(np.isin(chunk[candidates.row].astype(np.int64) * n_items + candidates.item, label_keys))
    x, y = np.concatenate(features), np.concatenate(targets).astype(np.float64)
    if min(y.sum(), len(y) - y.sum()) < _MIN_LABELS:
        return fallback
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.asfortranarray(np.column_stack([(x - mean) / scale, np.ones(len(x))]))  # column-major: faster zᵀ·v

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        logit = z @ w
        value = np.sum(np.logaddexp(0.0, logit) - y * logit) + params.ranker_l2 * (w[:-1] @ w[:-1])
        gradient = z.T @ (expit(logit) - y)
        gradient[:-1] += 2 * params.ranker_l2 * w[:-1]
        return value, gradient

    w = minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B").x
    return _Ranker(w[:-1], mean, scale, float(w[-1]), fitted=True)


def _seed_unsold(stats: _ItemStats, item_category: np.ndarray) -> _ItemStats:
    """Give never-sold catalog items their category's median popularity, so that rules can seed them."""
    popularity, recent = stats.popularity.copy(), stats.popularity_recent.copy()
    unsold = popularity == 0
    for code in np.unique(item_category[unsold & (item_category >= 0)]):
        in_category = item_category == code
        sold = in_category & ~unsold
        if sold.any():
            popularity[in_category & unsold] = np.median(popularity[sold])
            recent[in_category & unsold] = np.median(recent[sold])
    return dataclasses.replace(stats, popularity=popularity, popularity_recent=recent)


def _item_index(sold: Any, *catalogs: Mapping | pd.Series | None) -> pd.Index:
    """The sold items (distinct, in the order given) then the catalog items never sold.

    Object dtype: the fastest for the per-item look-ups serving makes, whatever the ids are.
    """
    known = [np.asarray(sold, dtype=object)]
    known += [np.asarray(_as_series(catalog).index, dtype=object) for catalog in catalogs if catalog is not None]
    return pd.Index(pd.unique(np.concatenate(known)), dtype=object)


def _as_series(mapping: Mapping | pd.Series) -> pd.Series:
    if isinstance(mapping, pd.Series):
        return mapping
    return pd.Series(list(mapping.values()), index=list(mapping.keys()), dtype=object)


def _categories(items: pd.Index, item_categories: Mapping | pd.Series | None) -> tuple[pd.Index, np.ndarray]:
    if item_categories is None:
        return pd.Index([], dtype=object), np.full(len(items), -1)
    codes, names = pd.factorize(_as_series(item_categories).reindex(items))
    return pd.Index(names), codes


def _rules(categories: pd.Index, category_rules: Mapping[str, Iterable[str]] | None) -> tuple[tuple[int, ...], ...]:
    targets: list[tuple[int, ...]] = [() for _ in categories]
    for source, complements in (category_rules or {}).items():
        code = categories.get_indexer([source])[0]
        if code >= 0:
            found = categories.get_indexer(list(complements))
            targets[code] = tuple(int(c) for c in found if c >= 0 and c != code)
    return tuple(targets)


def _groups(items: pd.Index, item_group: Mapping | pd.Series | None) -> np.ndarray:
    own = np.arange(len(items))
    if item_group is None:
        return own
    codes = pd.factorize(_as_series(item_group).reindex(items))[0]
    return np.where(codes >= 0, codes + len(items), own)


# ---------------------------------------------------------------------------------------------------------
# Candidates and features: one code path for fitting (many customers at once) and serving (one)


@dataclasses.dataclass(frozen=True)
class _History:
    """Distinct purchases of a batch of customers (rows 0..n_rows-1)."""

    row: np.ndarray
    ago: np.ndarray  # the customer's baskets after this one: 0 = their most recent basket
    item: np.ndarray
    day: np.ndarray
    n_rows: int


@dataclasses.dataclass(frozen=True)
class _Candidates:
    row: np.ndarray
    item: np.ndarray
    features: np.ndarray  # len(row) × len(FEATURES)
    bought: np.ndarray
    first_day: np.ndarray  # of the customer's purchases of the item; 0 when not bought
    last_day: np.ndarray
    count: np.ndarray  # the customer's baskets holding the item
    user_share: sp.csr_matrix  # rows × items: decayed share of every bought item


def _candidates(
    stats: _ItemStats, history: _History, params: Params, rules: sp.csr_matrix | None = None
) -> _Candidates:
    """Every row's candidates and their features. `rules` (rows × items) adds rule complement scores."""
    n_rows, n_items = history.n_rows, len(stats.popularity)
    n_baskets = np.zeros(n_rows, dtype=np.int64)
    np.maximum.at(n_baskets, history.row, history.ago.astype(np.int64) + 1)
    decay = params.basket_decay
    # Baskets are numbered 0..n-1 back from the most recent one, so their weights sum geometrically.
    weight_total = n_baskets.astype(np.float64) if decay == 1 else (1 - decay**n_baskets) / (1 - decay)

    key = history.row.astype(np.int64) * n_items + history.item
    order = np.lexsort((history.ago, key))
    key, ago, day = key[order], history.ago[order], history.day[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]][: len(key)]) if len(key) else np.zeros(0, dtype=np.int64)
    bought_key = key[starts]
    bought_row, bought_item = bought_key // n_items, bought_key % n_items
    # Per bought item, padded with a zero that candidates not bought read.
    decayed = np.append(np.add.reduceat(decay ** ago.astype(np.float64), starts) / weight_total[bought_row], 0.0)
    count = np.append(np.diff(np.append(starts, len(key))), 0)
    last_ago, last_day = np.append(ago[starts], 0), np.append(day[starts], 0)
    first_day = np.append(np.minimum.reduceat(day, starts), 0) if len(key) else np.zeros(1, dtype=np.int64)

    share = sp.csr_matrix((decayed[:-1], (bought_row, bought_item)), shape=(n_rows, n_items))
    complement = _share_weighted_mean(share, stats.similarity)
    # The same weights spread evenly over each basket's items: a mean of the baskets' transition scores.
    basket_key = history.row.astype(np.int64) * (int(history.ago.max()) + 1 if len(key) else 1) + history.ago
    basket_size = np.bincount(basket_key)[basket_key[order]]
    spread = np.append(np.add.reduceat(decay ** ago.astype(np.float64) / basket_size, starts), 0.0)
    following = _share_weighted_mean(
        sp.csr_matrix((spread[:-1], (bought_row, bought_item)), shape=(n_rows, n_items)), stats.transition
    )
    following.sort_indices()
    if rules is not None:
        complement = sp.csr_matrix(complement.maximum(rules))
    complement.sort_indices()
    complement_key = _row_keys(complement, n_items)
    top = _top_per_row(complement, params.candidates)
    popular_key = (
        np.arange(n_rows, dtype=np.int64)[:, None] * n_items + stats.popular_order[: params.candidates]
    ).ravel()
    rule_key = _row_keys(rules, n_items) if rules is not None else bought_key[:0]
    candidate_key = np.unique(np.concatenate([bought_key, _row_keys(top, n_items), popular_key, rule_key]))
    row, item = candidate_key // n_items, candidate_key % n_items
    at, bought = _lookup(bought_key, candidate_key)
    complement_at, _ = _lookup(complement_key, candidate_key)
    complement_value = np.append(complement.data, 0.0)[complement_at]
    following_at, _ = _lookup(_row_keys(following, n_items), candidate_key)
    following_value = np.append(following.data, 0.0)[following_at]

    log_repeat = np.log(stats.repeat_rate[item])
    features = np.column_stack(
        [
            decayed[at],
            count[at] / np.maximum(n_baskets[row], 1),
            bought & (last_ago[at] == 0),
            np.where(bought, 1 / (1.0 + last_ago[at]), 0.0),
            bought,
            log_repeat,
            bought * log_repeat,
            np.log1p(100 * complement_value),
            np.log(following_value + _NEXT_FLOOR),
            np.log(stats.popularity_recent[item] + _EPS),
            np.log(stats.popularity[item] + _EPS),
            bought * np.log(np.maximum(n_baskets[row], 1)),
        ]
    ).astype(np.float64)
    return _Candidates(row, item, features, bought, first_day[at], last_day[at], count[at], share.tocsr())


def _share_weighted_mean(share: sp.csr_matrix, item_item: sp.csr_matrix) -> sp.csr_matrix:
    """Per row of share: Σ share_i × item_item row i / Σ share_i."""
    n_rows, n_items = share.shape[0], item_item.shape[1]
    rows = np.repeat(np.arange(n_rows), np.diff(share.indptr))
    totals = np.bincount(rows, weights=share.data, minlength=n_rows)
    if n_rows > _GATHER_ROWS:
        return sp.csr_matrix(sp.diags(1 / np.maximum(totals, _EPS)) @ (share @ item_item))
    # scipy's product walks the whole catalogue for each row: for a few rows, gathering the rows they touch
    # is far faster, and summing them in a dense array spares sorting the entries.
    starts = item_item.indptr[share.indices]
    lengths = item_item.indptr[share.indices + 1] - starts
    at = np.arange(lengths.sum()) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    key = np.repeat(rows.astype(np.int64), lengths) * n_items + item_item.indices[at]
    values = item_item.data[at] * np.repeat(share.data / np.maximum(totals[rows], _EPS), lengths)
    if n_rows * n_items > _DENSE_SUMS:
        return sp.csr_matrix((values, (key // n_items, key % n_items)), shape=(n_rows, n_items))
    dense = np.bincount(key, weights=values, minlength=n_rows * n_items)
    found = np.flatnonzero(dense)
    indptr = np.searchsorted(found, np.arange(n_rows + 1) * n_items)
    return sp.csr_matrix((dense[found], found % n_items, indptr), shape=(n_rows, n_items))


def _row_keys(matrix: sp.csr_matrix, n_items: int) -> np.ndarray:
    """row × n_items + column of every stored entry, in storage order (sorted for a canonical CSR)."""
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)) * n_items + matrix.indices


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each key in sorted_keys, or len(sorted_keys) (a padding slot) when absent; and found."""
    positions = np.searchsorted(sorted_keys, keys)
    found = positions < len(sorted_keys)
    found[found] = sorted_keys[positions[found]] == keys[found]
    return np.where(found, positions, len(sorted_keys)), found


# ---------------------------------------------------------------------------------------------------------
# Serving


def suggest(
    model: Model,
    history: pd.DataFrame | tuple[Iterable, Iterable],
    *,
    k: int = 10,
    now: Any = None,
    sellable: Callable[[Hashable], bool] | Collection[Hashable] | None = None,
    exclude_recent: bool = True,
) -> list[Suggestion]:
    """The k best suggestions for one customer, given their purchase history.

    `history`: a DataFrame with columns date and item_id, or a pair (dates, item_ids); items the model does not
    know are ignored. `now` (default: today in UTC) dates the suggestion: days since a purchase count from it.
    `sellable`: an item predicate or a set of item ids; other items are skipped. `exclude_recent`: drop items
    bought too recently to be due again (and their variants).
    """
    params = model.params
    dates, item_ids = (history["date"], history["item_id"]) if isinstance(history, pd.DataFrame) else history
    item = model.items.get_indexer(list(item_ids))
    days = _days(dates) if len(item) else np.zeros(0, dtype=np.int64)
    known = item >= 0
    item, days = item[known], days[known]
    now_day = _day(now) if now is not None else _day(pd.Timestamp.now(tz="UTC"))
    _, ago = np.unique(-days, return_inverse=True)
    batch = _History(np.zeros(len(item), dtype=np.int64), ago.ravel(), item, days, n_rows=1)
    rules, rule_source = _rule_scores(model, batch.item, params.basket_decay ** batch.ago.astype(np.float64))
    candidates = _candidates(model.stats, batch, params, rules)
    probability = model.ranker.probability(candidates.features)

    blocked = np.zeros(0, dtype=np.int64)
    if exclude_recent:
        blocked = model.item_group[candidates.item[~_due(model, candidates, now_day)]]
    order = np.lexsort((candidates.item, -probability))
    picked = _pick(model, candidates.item[order], k, sellable, set(rule_source), blocked)
    at = dict(zip(candidates.item.tolist(), range(len(candidates.item)), strict=True))
    bought = {i for i in picked if i in at and candidates.bought[at[i]]}
    share = candidates.user_share
    anchors = _anchors(model, share.indices, share.data, [i for i in picked if i not in bought])
    results = []
    for i in picked:
        score = float(probability[at[i]]) if i in at else 0.0  # 0: a popular item found past the candidates
        if i in bought:
            days_since = int(now_day - candidates.last_day[at[i]])
            results.append(Suggestion(model.items[i], score, Reason.REPEAT, days_since=days_since))
        else:
            results.append(_explained(model, i, score, anchors.get(i), rule_source))
    return results


def complements_for(
    model: Model,
    item_ids: Iterable[Hashable],
    *,
    k: int = 10,
    sellable: Callable[[Hashable], bool] | Collection[Hashable] | None = None,
) -> list[Suggestion]:
    """The k best add-ons for the given items (a cart, a look): co-occurrence and rules, then popular items."""
    anchors = model.items.get_indexer(list(item_ids))
    anchors = np.unique(anchors[anchors >= 0])
    weights = np.full(len(anchors), 1.0 / max(len(anchors), 1))
    score = model.stats.similarity[anchors].T @ weights
    rules, rule_source = _rule_scores(model, anchors, weights)
    if rules is not None:
        score = np.maximum(score, rules.toarray().ravel())
    score[anchors] = 0
    ranked = np.flatnonzero(score > 0)
    ranked = ranked[np.lexsort((ranked, -model.stats.popularity_recent[ranked], -score[ranked]))]
    picked = _pick(model, ranked, k, sellable, set(rule_source), model.item_group[anchors])
    anchor_of = _anchors(model, anchors, weights, picked)
    return [_explained(model, i, float(score[i]), anchor_of.get(i), rule_source) for i in picked]


def _rule_scores(model: Model, items: np.ndarray, weights: np.ndarray) -> tuple[sp.csr_matrix | None, dict[int, int]]:
    """1 × items rule complement scores for purchases (items, weights), and each target item's source category.

    A rule "A → B" gives B's items rule_similarity × the weight share of the purchases in category A: a cosine
    as if every A item co-occurred that much with every B item. Never-sold items come first in B's list.
    """
    if not any(model.rules) or len(items) == 0:
        return None, {}
    codes = model.item_category[items]
    known = codes >= 0
    per_category = np.bincount(codes[known], weights=np.asarray(weights)[known], minlength=len(model.categories))
    total = max(float(np.sum(weights)), _EPS)
    best: dict[int, tuple[float, int]] = {}
    for source in np.flatnonzero(per_category).tolist():
        weight = per_category[source]
        value = model.params.rule_similarity * weight / total
        for target in model.rules[source]:
            for i in model.category_items[target][: model.params.candidates].tolist():
                if value > best.get(i, (0.0, -1))[0]:
                    best[i] = (value, int(source))
    if not best:
        return None, {}
    targets = np.fromiter(best, dtype=np.int64, count=len(best))
    values = np.array([best[i][0] for i in targets.tolist()])
    matrix = sp.csr_matrix((values, (np.zeros(len(targets), dtype=np.int64), targets)), shape=(1, len(model.items)))
    matrix.sort_indices()
    return matrix, {i: source for i, (_, source) in best.items()}


def _due(model: Model, candidates: _Candidates, now_day: int) -> np.ndarray:
    """Per candidate: not bought, or bought long enough ago to be due again.

    The repurchase interval is the customer's own (their average gap between purchases of the item) if they
    bought it twice, else the item's typical one, else default_interval_days.
    """
    params = model.params
    own = (candidates.last_day - candidates.first_day) / np.maximum(candidates.count - 1, 1)
    interval = np.where(candidates.count >= 2, own, model.interval_days[candidates.item])
    interval = np.where(np.isnan(interval), params.default_interval_days, interval)
    return ~candidates.bought | (now_day - candidates.last_day >= params.replenish_fraction * interval)


def _pick(
    model: Model,
    ranked: np.ndarray,
    k: int,
    sellable: Callable[[Hashable], bool] | Collection[Hashable] | None,
    rule_items: set[int],
    blocked_groups: np.ndarray,
) -> list[int]:
    """The first k sellable items of the ranking, then of the popular items, one per variant group and none of
    the blocked groups; with at least rule_slots rule items when there are any, in place of the last others."""
    if sellable is None or callable(sellable):
        is_sellable = sellable
    else:
        is_sellable = (sellable if isinstance(sellable, set | frozenset) else set(sellable)).__contains__
    slots = min(model.params.rule_slots, k) if rule_items else 0
    groups = set(blocked_groups.tolist())
    picked: list[int] = []
    rules_found = 0
    ranked_items = ranked.tolist()
    for position, i in enumerate(_then_popular(model, ranked_items)):
        if len(picked) >= k and (rules_found >= slots or position >= len(ranked_items)):
            break
        is_rule = i in rule_items
        if len(picked) >= k and not is_rule:
            continue  # past k, only rule items for the rule slots (all among the ranked items)
        group = int(model.item_group[i])
        if group in groups or (is_sellable is not None and not is_sellable(model.items[i])):
            continue
        groups.add(group)
        picked.append(i)
        rules_found += is_rule
    while len(picked) > k:
        # Make room for the rule items found past k: drop the last item that is not one.
        del picked[max(p for p, i in enumerate(picked) if i not in rule_items)]
    return picked


def _then_popular(model: Model, ranked: list[int]) -> Iterable[int]:
    yield from ranked
    seen = set(ranked)
    popular = model.stats.popular_order
    for start in range(0, len(popular), 256):
        yield from (i for i in popular[start : start + 256].tolist() if i not in seen)


def _anchors(model: Model, items: np.ndarray, weights: np.ndarray, targets: list[int]) -> dict[int, tuple[int, float]]:
    """For each target: the purchase that contributes most to its complement score, and their cosine."""
    if len(items) == 0 or not targets:
        return {}
    similarity = model.stats.similarity[items][:, targets].toarray()
    best = np.argmax(similarity * np.asarray(weights)[:, None], axis=0)
    return {t: (int(items[b]), float(similarity[b, n])) for n, (t, b) in enumerate(zip(targets, best, strict=True))}


def _explained(
    model: Model, item: int, score: float, anchor: tuple[int, float] | None, rule_source: dict[int, int]
) -> Suggestion:
    if anchor is not None and anchor[1] >= model.params.complement_min_similarity:
        return Suggestion(model.items[item], score, Reason.COMPLEMENT, anchor_item_id=model.items[anchor[0]])
    if item in rule_source:
        return Suggestion(model.items[item], score, Reason.RULE, anchor_category=model.categories[rule_source[item]])
    return Suggestion(model.items[item], score, Reason.POPULAR)


def _days(values: Any) -> np.ndarray:
    """Day numbers (days since 1970-01-01) of dates, datetimes or ISO strings."""
    array = np.asarray(values)
    if array.dtype.kind != "M":
        stamps = pd.to_datetime(pd.Series(values))
        if stamps.dt.tz is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        array = stamps.to_numpy()
    return array.astype("datetime64[D]").astype(np.int64)


def _day(value: Any) -> int:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(np.datetime64(stamp, "D").astype(np.int64))
