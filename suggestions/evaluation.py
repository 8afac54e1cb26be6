"""Offline evaluation of the suggestion engine: next-basket prediction as in "A Next Basket Recommendation
Reality Check" (Li et al., TOIS 2023), with the G-, P- and GP-TopFreq baselines beside the engine.

Protocol, on a file of `customer_id,date,item_id` rows (a basket = one customer's distinct items on one date):
- keep customers with 3 to 50 baskets; each one's last basket is the target, the others their history;
- keep items seen at least 3 times in history baskets (a basket counts once), in history and target alike;
  history baskets left empty vanish, customers whose target is left empty are dropped;
- per fold, split the customers at random 72 / 8 / 20 % into train / validation / test (the paper's
  `int(n × 0.72)` and `int(n × 0.8)` cut points, over a permutation drawn from seed and fold);
- build from every train customer's full sequence and every other customer's history (no validation or test
  target is seen), predict the test customers' targets from their histories, and average over test customers:
  Recall@K = hits in the top K / target size; NDCG@K with binary gains and, as the issue and the paper's code
  have it, the ideal DCG over all the target's items (not only the first K), so a target larger than K caps it
  below 1; PHR@10 = share of customers with a hit in the top 10; then average the folds.

Baselines (`baseline_predictions`): G-TopFreq, P-TopFreq, GP-TopFreq, with equal personal counts going to the
more popular item; and GP-TopFreq with the tie order of the paper's code (first bought first), weaker here.

The engine goes through `engine.model_build` and `engine.suggest` exactly as production calls them, one customer
at a time, with `now` = the target basket's day (the day the customer is served). The ranking reads `now` only
to drop recently bought items; whether and how strictly to do so (`exclude_recent`, `replenish_fraction`) is the
one choice left to the run, made per fold on the validation customers and then applied to the test customers.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from suggestions import engine

METRICS = ("Recall@10", "NDCG@10", "Recall@20", "NDCG@20", "PHR@10")
BASELINES = ("G-TopFreq", "P-TopFreq", "GP-TopFreq")
GP_PAPER_TIES = "GP-TopFreq, paper's tie order"
ENGINE = "engine"
DEPTH = 20  # predictions per customer: the largest K of the metrics
TRAIN_SHARE, VALIDATION_END = 0.72, 0.8
# Validation grid: None = keep recently bought items; a number = drop them below that share of the interval.
RECENCY_CHOICES: tuple[float | None, ...] = (None, 0.25, 0.5)


@dataclasses.dataclass(frozen=True)
class Protocol:
    history: pd.DataFrame  # customer_id, date, item_id: every basket but each customer's last
    target: pd.DataFrame  # customer_id, date, item_id: each customer's last basket
    customers: np.ndarray  # sorted ids of the customers kept


@dataclasses.dataclass(frozen=True)
class FoldResult:
    fold: int
    metrics: dict[str, dict[str, float]]  # method → metric → value
    replenish_fraction: float | None  # chosen on validation; None: recently bought items kept
    validation_recall: dict[str, float]  # Recall@10 of each choice on validation
    build_seconds: float
    suggest_ms_p95: float

    @property
    def recency_choice(self) -> str:
        return _choice_label(self.replenish_fraction)


@dataclasses.dataclass(frozen=True)
class Report:
    customers: int
    items: int
    history_baskets: int
    folds: list[FoldResult]
    seed: int
    seconds: float

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Method → metric → mean over folds."""
        methods = self.folds[0].metrics
        return {
            method: {m: float(np.mean([f.metrics[method][m] for f in self.folds])) for m in METRICS}
            for method in methods
        }


def baskets_read(path: Path | str) -> pd.DataFrame:
    """A customer_id,date,item_id CSV as distinct (customer, day, item) rows; ids are read as text."""
    frame = pd.read_csv(path, dtype={"customer_id": str, "item_id": str})
    missing = {"customer_id", "date", "item_id"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    frame = frame[["customer_id", "date", "item_id"]].dropna()
    frame["date"] = pd.to_datetime(frame["date"]).dt.floor("D")
    return frame.drop_duplicates(ignore_index=True)


def online_retail_baskets(path: Path | str) -> pd.DataFrame:
    """The UCI Online Retail file as baskets: cancellations and rows without CustomerID dropped, date = day."""
    frame = pd.read_parquet(path, columns=["InvoiceNo", "StockCode", "InvoiceDate", "CustomerID"])
    frame = frame[frame["CustomerID"].notna() & ~frame["InvoiceNo"].astype(str).str.startswith("C")]
    baskets = pd.DataFrame(
        {
            "customer_id": frame["CustomerID"].astype("int64").astype(str),
            "date": pd.to_datetime(frame["InvoiceDate"]).dt.floor("D"),
            "item_id": frame["StockCode"].astype(str),
        }
    )
    return baskets.drop_duplicates().sort_values(["customer_id", "date", "item_id"], ignore_index=True)


def protocol_prepare(
    baskets: pd.DataFrame, *, min_baskets: int = 3, max_baskets: int = 50, min_item_count: int = 3
) -> Protocol:
    """Filter customers and items and split each customer's sequence into history and target, as the paper does."""
    baskets = baskets[["customer_id", "date", "item_id"]].drop_duplicates()
    per_customer = baskets.groupby("customer_id")["date"]
    n_baskets = per_customer.transform("nunique")
    baskets = baskets[(n_baskets >= min_baskets) & (n_baskets <= max_baskets)]
    is_target = baskets["date"].eq(baskets.groupby("customer_id")["date"].transform("max"))
    counts = baskets.loc[~is_target, "item_id"].value_counts()
    kept_items = baskets["item_id"].isin(counts.index[counts >= min_item_count])
    baskets, is_target = baskets[kept_items], is_target[kept_items]
    customers = np.sort(baskets.loc[is_target, "customer_id"].unique())
    kept = baskets["customer_id"].isin(customers)
    order = ["customer_id", "date", "item_id"]
    return Protocol(
        history=baskets[kept & ~is_target].sort_values(order, ignore_index=True),
        target=baskets[kept & is_target].sort_values(order, ignore_index=True),
        customers=customers,
    )


def customers_split(customers: np.ndarray, *, seed: int, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test customers of a fold: 72 / 8 / 20 % of a permutation drawn from (seed, fold)."""
    shuffled = np.random.default_rng([seed, fold]).permutation(np.asarray(customers))
    n = len(shuffled)
    train_end, validation_end = int(n * TRAIN_SHARE), int(n * VALIDATION_END)
    return shuffled[:train_end], shuffled[train_end:validation_end], shuffled[validation_end:]


def ranking_metrics(predictions: pd.DataFrame, target: pd.DataFrame, customers: Iterable) -> dict[str, float]:
    """The metrics, averaged over `customers`, of predictions (customer_id, rank from 0, item_id) for target
    baskets (customer_id, item_id); a customer without predictions counts as all misses."""
    customers = pd.Index(pd.unique(np.asarray(list(customers), dtype=object)), name="customer_id")
    target = target[target["customer_id"].isin(customers)]
    sizes = target.groupby("customer_id").size().reindex(customers, fill_value=0)
    hits = predictions[predictions["customer_id"].isin(customers) & (predictions["rank"] < DEPTH)].merge(
        target[["customer_id", "item_id"]].drop_duplicates(), on=["customer_id", "item_id"]
    )
    gain = 1 / np.log2(hits["rank"].to_numpy() + 2.0)
    ideal = np.r_[0.0, np.cumsum(1 / np.log2(np.arange(sizes.max() if len(sizes) else 0) + 2.0))]
    ideal_dcg = ideal[sizes.to_numpy()]
    result = {}
    for k in (10, 20):
        top = hits["rank"].to_numpy() < k
        count = hits[top].groupby("customer_id").size().reindex(customers, fill_value=0).to_numpy()
        dcg = pd.Series(gain[top]).groupby(hits["customer_id"].to_numpy()[top]).sum().reindex(customers, fill_value=0)
        result[f"Recall@{k}"] = float(np.mean(count / sizes.to_numpy()))
        result[f"NDCG@{k}"] = float(np.mean(dcg.to_numpy() / ideal_dcg))
        if k == 10:
            result["PHR@10"] = float(np.mean(count > 0))
    return {name: result[name] for name in METRICS}


def baseline_predictions(history: pd.DataFrame, model_baskets: pd.DataFrame, customers: np.ndarray) -> dict:
    """Top-DEPTH lists (customer_id, rank, item_id) of the baselines for the customers.

    G-TopFreq: the most popular items, popularity counting the baskets holding an item among the model's
    baskets (ties to the smaller item id). P-TopFreq: the customer's own items by the number of their history
    baskets holding them, equal counts to the more popular item. GP-TopFreq: P-TopFreq filled up with G-TopFreq.
    GP_PAPER_TIES breaks equal counts as the paper's code does (a stable sort over the items in the order they
    were first bought) — a weaker variant on data with many ties, reported beside for comparison.
    """
    popularity = model_baskets["item_id"].value_counts()
    popular = popularity.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    popular_rank = pd.Series(np.arange(len(popular)), index=popular.index)
    top_global = popular.index[: 2 * DEPTH].to_numpy()
    own = history[history["customer_id"].isin(customers)].groupby(["customer_id", "item_id"])["date"]
    own = own.agg(count="size", first="min").reset_index()
    own["popular_rank"] = popular_rank.reindex(own["item_id"]).fillna(len(popular_rank)).to_numpy()
    result = {
        "G-TopFreq": pd.DataFrame(
            {
                "customer_id": np.repeat(customers, DEPTH),
                "rank": np.tile(np.arange(DEPTH), len(customers)),
                "item_id": np.tile(top_global[:DEPTH], len(customers)),
            }
        )
    }
    for ties, personal_name, filled_name in (
        ("popular_rank", "P-TopFreq", "GP-TopFreq"),
        ("first", None, GP_PAPER_TIES),
    ):
        ranked = own.sort_values(["customer_id", "count", ties, "item_id"], ascending=[True, False, True, True])
        ranked["rank"] = ranked.groupby("customer_id").cumcount()
        top = ranked.loc[ranked["rank"] < DEPTH, ["customer_id", "rank", "item_id"]]
        if personal_name:
            result[personal_name] = top
        result[filled_name] = pd.concat([top, _filled_up(top, customers, top_global)], ignore_index=True)
    return result


def _filled_up(personal: pd.DataFrame, customers: np.ndarray, popular: np.ndarray) -> pd.DataFrame:
    """The popular items each customer's personal list needs to reach DEPTH, ranked after it."""
    fill = pd.DataFrame(
        {
            "customer_id": np.repeat(customers, len(popular)),
            "item_id": np.tile(popular, len(customers)),
        }
    )
    fill = fill.merge(personal[["customer_id", "item_id"]], how="left", indicator=True)
    fill = fill[fill["_merge"] == "left_only"]
    already = personal.groupby("customer_id").size().reindex(fill["customer_id"], fill_value=0).to_numpy()
    fill = fill.assign(rank=fill.groupby("customer_id").cumcount().to_numpy() + already)
    return fill.loc[fill["rank"] < DEPTH, ["customer_id", "rank", "item_id"]]


def engine_predictions(
    model: engine.Model,
    history: pd.DataFrame,
    target: pd.DataFrame,
    customers: np.ndarray,
    *,
    replenish_fraction: float | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The engine's top-DEPTH lists, one engine.suggest call per customer as production makes them; and the
    seconds each call took."""
    if replenish_fraction is not None:
        model = engine.model_with_params(model, replenish_fraction=replenish_fraction)
    rows = history.groupby("customer_id").indices
    dates, items = history["date"].to_numpy(), history["item_id"].to_numpy()
    target_day = target.groupby("customer_id")["date"].first()
    frames, seconds = [], []
    for customer in customers:
        positions = rows.get(customer, np.zeros(0, dtype=np.int64))
        started = time.perf_counter()
        suggestions = engine.suggest(
            model,
            (dates[positions], items[positions]),
            k=DEPTH,
            now=target_day[customer],
            exclude_recent=replenish_fraction is not None,
        )
        seconds.append(time.perf_counter() - started)
        frames.append((customer, [s.item_id for s in suggestions]))
    predictions = pd.DataFrame(
        {
            "customer_id": np.repeat([c for c, _ in frames], [len(i) for _, i in frames]),
            "rank": np.concatenate([np.arange(len(i)) for _, i in frames]) if frames else [],
            "item_id": [item for _, found in frames for item in found],
        }
    )
    return predictions, np.asarray(seconds)


def evaluate(
    baskets: pd.DataFrame,
    *,
    folds: int = 3,
    seed: int = 0,
    params: engine.Params | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    started = time.perf_counter()
    protocol = protocol_prepare(baskets)
    say = progress or (lambda message: None)
    say(f"{len(protocol.customers)} customers, {protocol.history['item_id'].nunique()} items after filtering")
    results = []
    for fold in range(folds):
        train, validation, test = customers_split(protocol.customers, seed=seed, fold=fold)
        model_baskets = pd.concat(
            [protocol.history, protocol.target[protocol.target["customer_id"].isin(train)]], ignore_index=True
        )
        build_started = time.perf_counter()
        model = engine.model_build(model_baskets, params=params)
        build_seconds = time.perf_counter() - build_started

        validation_recall = {}
        for choice in RECENCY_CHOICES:
            predictions, _ = engine_predictions(
                model, protocol.history, protocol.target, validation, replenish_fraction=choice
            )
            metrics = ranking_metrics(predictions, protocol.target, validation)
            validation_recall[_choice_label(choice)] = metrics["Recall@10"]
        # Ties keep the earlier (less exclusive) choice.
        chosen = max(RECENCY_CHOICES, key=lambda c: (validation_recall[_choice_label(c)], -RECENCY_CHOICES.index(c)))

        fold_metrics = {
            method: ranking_metrics(found, protocol.target, test)
            for method, found in baseline_predictions(protocol.history, model_baskets, test).items()
        }
        predictions, seconds = engine_predictions(
            model, protocol.history, protocol.target, test, replenish_fraction=chosen
        )
        fold_metrics[ENGINE] = ranking_metrics(predictions, protocol.target, test)
        results.append(
            FoldResult(
                fold=fold,
                metrics=fold_metrics,
                replenish_fraction=chosen,
                validation_recall=validation_recall,
                build_seconds=build_seconds,
                suggest_ms_p95=float(np.percentile(seconds, 95) * 1000) if len(seconds) else 0.0,
            )
        )
        say(
            f"fold {fold}: built in {build_seconds:.1f} s, recency {_choice_label(chosen)}, "
            f"Recall@10 engine {fold_metrics[ENGINE]['Recall@10']:.4f} "
            f"vs GP-TopFreq {fold_metrics['GP-TopFreq']['Recall@10']:.4f}"
        )
    return Report(
        customers=len(protocol.customers),
        items=int(protocol.history["item_id"].nunique()),
        history_baskets=int(protocol.history[["customer_id", "date"]].drop_duplicates().shape[0]),
        folds=results,
        seed=seed,
        seconds=time.perf_counter() - started,
    )


def _choice_label(choice: float | None) -> str:
    return "kept" if choice is None else f"dropped below {choice:g} × interval"
