"""The offline evaluation protocol on a tiny hand-made baskets file whose answers are worked out by hand."""

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from suggestions import evaluation

FILLERS = [f"f{n:02d}" for n in range(1, 21)]
LARGE = [f"c{n:02d}" for n in range(1, 6)]  # history: 23 distinct items
SMALL = [f"c{n:02d}" for n in range(6, 11)]  # history: 3 distinct items
KEPT = LARGE + SMALL


def _rows(customer: str, date: str, items: list[str]) -> list[tuple[str, str, str]]:
    return [(customer, date, item) for item in items]


def _baskets_file(tmp_path) -> str:
    """Ten customers survive the filters. Every target is {own item, b, f05}:

    c01–c05 bought (own, a, f01–f10), (own, b, f11–f20), (own); c06–c10 bought (own, a), (own, b), (own).
    c11 has 2 baskets and c12 51: dropped. c13's target holds only r, seen twice in history: dropped with it.
    c01 also bought q once: dropped from the vocabulary. Whatever the split, popularity over the model's baskets
    (all histories and the 7 train targets) is b 10+7, f05 5+7, a 10, the other fillers 5, own items 3 or 4.
    """
    rows = []
    for customer in KEPT:
        own = f"p{customer[1:]}"
        large = customer in LARGE
        rows += _rows(customer, "2024-01-01", [own, "a", *(FILLERS[:10] if large else [])])
        rows += _rows(customer, "2024-01-02", [own, "b", *(FILLERS[10:] if large else [])])
        rows += _rows(customer, "2024-01-03", [own])
        rows += _rows(customer, "2024-01-10", [own, "b", "f05"])
    rows += _rows("c01", "2024-01-03", ["q"])
    rows += _rows("c11", "2024-01-01", ["a", "b"]) + _rows("c11", "2024-01-02", ["a"])
    for day in pd.date_range("2023-01-01", periods=51):
        rows += _rows("c12", day.strftime("%Y-%m-%d"), ["a"])
    rows += _rows("c13", "2024-01-01", ["r"]) + _rows("c13", "2024-01-02", ["r"]) + _rows("c13", "2024-01-05", ["r"])
    path = tmp_path / "baskets.csv"
    pd.DataFrame(rows, columns=["customer_id", "date", "item_id"]).sample(frac=1, random_state=1).to_csv(
        path, index=False
    )
    return str(path)


def _ndcg(hit_ranks: list[int], target_size: int) -> float:
    dcg = sum(1 / math.log2(rank + 2) for rank in hit_ranks)
    return dcg / sum(1 / math.log2(i + 2) for i in range(target_size))


# Per customer type: method → (ranks of the hits in the top 20, then the metrics), worked out by hand.
# G-TopFreq for everyone: b, f05, a, f01–f04, f06–f18 → hits b (0), f05 (1).
# P-TopFreq, large: own (3 baskets), then the count-1 items by popularity: b, f05, a, … → hits 0, 1, 2.
# P-TopFreq, small: own, b, a → hits 0, 1. GP-TopFreq, small: own, b, a, then f05, f01, … → hits 0, 1, 3.
# Paper's tie order, large: own, then first bought first: a, f01–f10, b, f11–f17 → hits 0, 6 (f05), 12 (b).
# Paper's tie order, small: own, a, b, then f05, f01, … → hits 0, 2, 3.
HIT_RANKS = {
    "G-TopFreq": {"large": [0, 1], "small": [0, 1]},
    "P-TopFreq": {"large": [0, 1, 2], "small": [0, 1]},
    "GP-TopFreq": {"large": [0, 1, 2], "small": [0, 1, 3]},
    evaluation.GP_PAPER_TIES: {"large": [0, 6, 12], "small": [0, 2, 3]},
}


def _expected(method: str, customer: str) -> dict[str, float]:
    ranks = HIT_RANKS[method]["large" if customer in LARGE else "small"]
    top10 = [r for r in ranks if r < 10]
    return {
        "Recall@10": len(top10) / 3,
        "NDCG@10": _ndcg(top10, 3),
        "Recall@20": len(ranks) / 3,
        "NDCG@20": _ndcg(ranks, 3),
        "PHR@10": float(bool(top10)),
    }


def test_protocol_keeps_customers_with_3_to_50_baskets_and_items_seen_3_times_in_history(tmp_path):
    protocol = evaluation.protocol_prepare(evaluation.baskets_read(_baskets_file(tmp_path)))

    assert list(protocol.customers) == KEPT
    assert set(protocol.history["item_id"]) == {"a", "b", *FILLERS, *(f"p{c[1:]}" for c in KEPT)}
    assert len(protocol.target) == 30
    assert set(protocol.target["date"]) == {pd.Timestamp("2024-01-10")}
    assert set(protocol.target.loc[protocol.target["customer_id"] == "c03", "item_id"]) == {"p03", "b", "f05"}
    assert len(protocol.history[protocol.history["customer_id"] == "c01"]) == 23 + 1 + 1


def test_split_is_72_8_20_of_a_permutation_fixed_by_seed_and_fold():
    customers = np.array([f"c{n:03d}" for n in range(100)])

    train, validation, test = evaluation.customers_split(customers, seed=7, fold=0)
    again = evaluation.customers_split(customers, seed=7, fold=0)
    other_fold = evaluation.customers_split(customers, seed=7, fold=1)

    assert (len(train), len(validation), len(test)) == (72, 8, 20)
    assert sorted([*train, *validation, *test]) == list(customers)
    assert all((a == b).all() for a, b in zip((train, validation, test), again, strict=True))
    assert set(other_fold[2]) != set(test)
    assert [len(part) for part in evaluation.customers_split(customers[:10], seed=0, fold=0)] == [7, 1, 2]


def test_metrics_arithmetic_uses_the_ideal_dcg_over_all_target_items():
    target = pd.DataFrame(
        {
            "customer_id": ["x", "x", "y"] + ["z"] * 25,
            "item_id": ["i1", "i2", "i3"] + [f"t{n}" for n in range(25)],
        }
    )
    predictions = pd.DataFrame(
        {
            "customer_id": ["x", "x", "x"] + ["z"] * 20,
            "rank": [0, 1, 2, *range(20)],
            "item_id": ["i1", "miss", "i2"] + [f"t{n}" for n in range(20)],
        }
    )

    metrics = evaluation.ranking_metrics(predictions, target, ["x", "y", "z"])

    x_ndcg = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    z_ndcg10 = sum(1 / math.log2(r + 2) for r in range(10)) / sum(1 / math.log2(r + 2) for r in range(25))
    z_ndcg20 = sum(1 / math.log2(r + 2) for r in range(20)) / sum(1 / math.log2(r + 2) for r in range(25))
    assert metrics["Recall@10"] == pytest.approx((1 + 0 + 10 / 25) / 3)
    assert metrics["Recall@20"] == pytest.approx((1 + 0 + 20 / 25) / 3)
    assert metrics["NDCG@10"] == pytest.approx((x_ndcg + 0 + z_ndcg10) / 3)
    assert metrics["NDCG@20"] == pytest.approx((x_ndcg + 0 + z_ndcg20) / 3)
    assert z_ndcg20 < 1  # 20 hits out of 25: the ideal DCG counts all 25
    assert metrics["PHR@10"] == pytest.approx(2 / 3)


def test_baselines_rank_as_worked_out_by_hand(tmp_path):
    protocol = evaluation.protocol_prepare(evaluation.baskets_read(_baskets_file(tmp_path)))
    train = evaluation.customers_split(protocol.customers, seed=0, fold=0)[0]
    model_baskets = pd.concat([protocol.history, protocol.target[protocol.target["customer_id"].isin(train)]])

    found = evaluation.baseline_predictions(protocol.history, model_baskets, np.array(["c01", "c06"]))

    def top(method: str, customer: str) -> list[str]:
        rows = found[method][found[method]["customer_id"] == customer].sort_values("rank")
        return list(rows["item_id"])

    assert top("G-TopFreq", "c06")[:5] == ["b", "f05", "a", "f01", "f02"]
    assert len(top("G-TopFreq", "c06")) == 20
    assert top("P-TopFreq", "c01")[:5] == ["p01", "b", "f05", "a", "f01"]
    assert top("P-TopFreq", "c06") == ["p06", "b", "a"]
    assert top("GP-TopFreq", "c06")[:6] == ["p06", "b", "a", "f05", "f01", "f02"]
    assert len(top("GP-TopFreq", "c06")) == 20
    assert top(evaluation.GP_PAPER_TIES, "c01")[:4] == ["p01", "a", "f01", "f02"]
    assert top(evaluation.GP_PAPER_TIES, "c01")[12] == "b"


def test_evaluate_reports_the_hand_computed_baselines_and_the_engine_for_the_test_customers(tmp_path):
    baskets = evaluation.baskets_read(_baskets_file(tmp_path))

    report = evaluation.evaluate(baskets, folds=2, seed=0)

    assert (report.customers, report.items, report.history_baskets) == (10, 32, 30)
    for fold in report.folds:
        _, _, test = evaluation.customers_split(np.array(KEPT), seed=0, fold=fold.fold)
        assert len(test) == 2
        for method in HIT_RANKS:
            expected = {m: np.mean([_expected(method, c)[m] for c in test]) for m in evaluation.METRICS}
            assert fold.metrics[method] == pytest.approx(expected), method
        assert set(fold.metrics[evaluation.ENGINE]) == set(evaluation.METRICS)
        assert fold.replenish_fraction in evaluation.RECENCY_CHOICES
        assert set(fold.validation_recall) == {evaluation._choice_label(c) for c in evaluation.RECENCY_CHOICES}
    # Whichever two customers are tested, own item and b are in everyone's first ten: PHR@10 is 1.
    assert report.metrics["GP-TopFreq"]["PHR@10"] == 1.0


def test_the_engine_is_evaluated_through_suggest(tmp_path, monkeypatch):
    baskets = evaluation.baskets_read(_baskets_file(tmp_path))
    calls = []
    real_suggest = evaluation.engine.suggest

    def spy(model, history, **kwargs):
        calls.append(kwargs)
        return real_suggest(model, history, **kwargs)

    monkeypatch.setattr(evaluation.engine, "suggest", spy)

    evaluation.evaluate(baskets, folds=1, seed=0)

    # One call per validation customer and choice, then one per test customer.
    assert len(calls) == 1 * len(evaluation.RECENCY_CHOICES) + 2
    assert all(call["k"] == evaluation.DEPTH and call["now"] == pd.Timestamp("2024-01-10") for call in calls)


def test_suggestions_eval_command_prints_the_table_and_json_last(tmp_path):
    out = io.StringIO()

    call_command("suggestions_eval", "--baskets", _baskets_file(tmp_path), "--folds", "2", "--json", stdout=out)

    lines = out.getvalue().strip().splitlines()
    result = json.loads(lines[-1])
    assert result["folds"] == 2 and result["seed"] == 0 and result["customers"] == 10
    assert set(result["metrics"]) == {*evaluation.BASELINES, evaluation.GP_PAPER_TIES, evaluation.ENGINE}
    assert any(line.startswith("GP-TopFreq ") for line in lines)
    assert any(line.startswith("engine ") for line in lines)


def test_online_retail_converter_drops_cancellations_and_rows_without_customer(tmp_path):
    source = tmp_path / "online_retail.parquet"
    pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "C536379", "536380", "536381"],
            "StockCode": ["85123A", "71053", "85123A", "22423", "85123A"],
            "Description": ["", "", "", "", ""],
            "Quantity": [6, 6, -1, 2, 1],
            "InvoiceDate": pd.to_datetime(
                ["2010-12-01 08:26", "2010-12-01 08:26", "2010-12-01 09:41", "2010-12-01 10:00", "2010-12-02 12:00"]
            ),
            "UnitPrice": [2.55, 3.39, 2.55, 12.75, 2.55],
            "CustomerID": [17850.0, 17850.0, 17850.0, None, 17850.0],
            "Country": ["United Kingdom"] * 5,
        }
    ).to_parquet(source)
    output = tmp_path / "baskets.csv"

    call_command("suggestions_baskets_online_retail", str(output), "--source", str(source), stdout=io.StringIO())

    written = pd.read_csv(output, dtype=str)
    assert list(written.columns) == ["customer_id", "date", "item_id"]
    assert written.values.tolist() == [
        ["17850", "2010-12-01", "71053"],
        ["17850", "2010-12-01", "85123A"],
        ["17850", "2010-12-02", "85123A"],
    ]
