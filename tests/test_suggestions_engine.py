"""Ranking rules of the suggestion engine, on small hand-made order histories."""

import pickle

import numpy as np
import pandas as pd
import pytest

from suggestions import engine
from suggestions.engine import Reason


def _orders(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "date", "item_id"])


def _history(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "item_id"])


def _shop() -> pd.DataFrame:
    """Dresses sell with belts, tees with socks; socks sell best, then tees, then belts. Nobody buys twice."""
    rows = []
    for n in range(6):
        day = f"2024-03-{n + 1:02d}"
        rows += [(f"d{n}", day, "dress-1"), (f"d{n}", day, "belt-1")]
    for n in range(8):
        day = f"2024-03-{n + 10:02d}"
        rows += [(f"t{n}", day, "tee-S"), (f"t{n}", day, "socks")]
    rows += [("b0", "2024-03-07", "belt-1"), ("t8", "2024-03-18", "socks")]
    rows += [("t0", "2024-03-20", "tee-M"), ("t1", "2024-03-21", "tee-M"), ("s0", "2024-03-05", "scarf-1")]
    return _orders(*rows)


def _ids(suggestions: list[engine.Suggestion]) -> list:
    return [s.item_id for s in suggestions]


def test_without_history_the_most_popular_items_are_suggested():
    model = engine.model_build(_shop())

    found = engine.suggest(model, _history(), k=3, now="2024-04-01")

    assert _ids(found) == ["socks", "tee-S", "belt-1"]
    assert {s.reason for s in found} == {Reason.POPULAR}


def test_an_item_often_bought_with_a_purchase_is_suggested_as_its_complement():
    model = engine.model_build(_shop())

    found = engine.suggest(model, _history(("2024-01-02", "dress-1")), k=3, now="2024-04-01")

    assert _ids(found)[:2] == ["dress-1", "belt-1"]  # bought 90 days ago: due again, and its complement
    assert found[0].reason == Reason.REPEAT
    assert found[1].reason == Reason.COMPLEMENT and found[1].anchor_item_id == "dress-1"


def test_complements_for_given_items_leave_out_the_items_and_their_variants():
    model = engine.model_build(_shop(), item_group={"tee-S": "tee", "tee-M": "tee"})

    found = engine.complements_for(model, ["tee-S"], k=3)

    assert found[0].item_id == "socks"
    assert found[0].reason == Reason.COMPLEMENT and found[0].anchor_item_id == "tee-S"
    assert "tee-S" not in _ids(found) and "tee-M" not in _ids(found)
    assert found[1].reason == Reason.POPULAR


def test_a_category_rule_seeds_a_complement_that_was_never_sold():
    categories = {"dress-1": "dress", "belt-1": "belt", "belt-new": "belt", "scarf-1": "scarf", "tee-S": "tee"}
    model = engine.model_build(_shop(), item_categories=categories, category_rules={"dress": ["belt", "scarf"]})

    found = engine.suggest(model, _history(("2024-03-30", "dress-1")), k=4, now="2024-04-01")
    add_ons = engine.complements_for(model, ["dress-1"], k=4)

    seeded = next(s for s in found if s.item_id == "belt-new")
    assert seeded.reason == Reason.RULE and seeded.anchor_category == "dress"
    assert {"belt-new", "scarf-1", "belt-1"} <= set(_ids(add_ons))
    assert next(s for s in add_ons if s.item_id == "belt-new").reason == Reason.RULE


def test_an_edited_rule_applies_without_a_rebuild():
    categories = {"dress-1": "dress", "belt-1": "belt", "scarf-1": "scarf"}
    model = engine.model_build(_shop(), item_categories=categories, category_rules={"dress": ["belt"]})

    edited = engine.model_with_rules(model, {"dress": ["scarf"]})

    assert "scarf-1" not in _ids(engine.complements_for(model, ["dress-1"], k=2))
    scarf = next(s for s in engine.complements_for(edited, ["dress-1"], k=2) if s.item_id == "scarf-1")
    assert scarf.reason == Reason.RULE and scarf.anchor_category == "dress"


def test_a_rule_keeps_a_slot_among_many_stronger_suggestions():
    categories = {"dress-1": "dress", "scarf-1": "scarf"}
    model = engine.model_build(_shop(), item_categories=categories, category_rules={"dress": ["scarf"]})
    history = _history(("2024-01-02", "dress-1"), ("2024-01-02", "socks"), ("2024-01-02", "tee-S"))

    found = engine.suggest(model, history, k=3, now="2024-04-01")
    without_slot = engine.suggest(engine.model_with_params(model, rule_slots=0), history, k=3, now="2024-04-01")

    assert _ids(found)[-1] == "scarf-1" and found[-1].reason == Reason.RULE
    assert "scarf-1" not in _ids(without_slot)


def test_an_item_bought_too_recently_is_left_out_until_it_is_due_again():
    orders = _shop()
    orders = pd.concat([orders, _orders(("x", "2024-01-01", "socks"), ("x", "2024-01-31", "socks"))])
    model = engine.model_build(orders)
    history = _history(("2024-01-01", "socks"), ("2024-01-31", "socks"))  # every 30 days: due after 15

    too_soon = engine.suggest(model, history, k=5, now="2024-02-10")
    due = engine.suggest(model, history, k=5, now="2024-02-15")
    kept = engine.suggest(model, history, k=5, now="2024-02-10", exclude_recent=False)

    assert "socks" not in _ids(too_soon)
    assert due[0].item_id == "socks" and due[0].reason == Reason.REPEAT and due[0].days_since == 15
    assert kept[0].item_id == "socks" and kept[0].days_since == 10


def test_an_item_bought_once_is_due_after_half_the_default_interval():
    model = engine.model_build(_shop())  # nobody bought anything twice: intervals unknown, 90 days by default
    history = _history(("2024-03-01", "scarf-1"))

    assert "scarf-1" not in _ids(engine.suggest(model, history, k=5, now="2024-04-14"))  # 44 days
    assert engine.suggest(model, history, k=5, now="2024-04-15")[0].days_since == 45


def test_near_identical_variants_are_suggested_once_and_left_out_with_a_recent_one():
    model = engine.model_build(_shop(), item_group={"tee-S": "tee", "tee-M": "tee"})

    fresh = engine.suggest(model, _history(), k=4, now="2024-04-01")
    after_tee_m = engine.suggest(model, _history(("2024-03-31", "tee-M")), k=4, now="2024-04-01")

    assert "tee-S" in _ids(fresh) and "tee-M" not in _ids(fresh)
    assert "tee-S" not in _ids(after_tee_m) and "tee-M" not in _ids(after_tee_m)


def test_only_sellable_items_are_suggested():
    model = engine.model_build(_shop())

    by_set = engine.suggest(model, _history(), k=3, now="2024-04-01", sellable={"socks", "scarf-1", "dress-1"})
    by_predicate = engine.suggest(model, _history(), k=2, now="2024-04-01", sellable=lambda item: item != "tee-S")

    assert set(_ids(by_set)) == {"socks", "scarf-1", "dress-1"}
    assert _ids(by_predicate) == ["socks", "belt-1"]


def test_orders_since_the_build_change_the_suggestions_at_once():
    model = engine.model_build(_shop())
    before = _history(("2024-03-01", "scarf-1"))
    after = _history(("2024-03-01", "scarf-1"), ("2024-03-31", "dress-1"))

    found_before = engine.suggest(model, before, k=3, now="2024-04-01", exclude_recent=False)
    found_after = engine.suggest(model, after, k=3, now="2024-04-01", exclude_recent=False)

    assert "belt-1" not in _ids(found_before)
    assert found_after[0].item_id == "dress-1" and found_after[0].days_since == 1
    assert next(s for s in found_after if s.item_id == "belt-1").anchor_item_id == "dress-1"


def test_unknown_items_in_the_history_are_ignored():
    model = engine.model_build(_shop())

    found = engine.suggest(model, _history(("2024-03-01", "new-product")), k=2, now="2024-04-01")

    assert _ids(found) == ["socks", "tee-S"]


def test_the_ranker_is_fitted_on_enough_data_and_learns_habits():
    rng = np.random.default_rng(0)
    rows = []
    for customer in range(300):
        habit = f"habit-{customer % 20}"
        for visit in range(5):
            day = f"2024-01-{visit * 5 + 1 + customer % 4:02d}"
            rows.append((f"c{customer}", day, habit))
            rows += [(f"c{customer}", day, f"item-{i}") for i in rng.choice(60, 3, replace=False)]
    orders = _orders(*rows)

    model = engine.model_build(orders)
    history = orders[orders["customer_id"] == "c7"]
    found = engine.suggest(model, history, k=5, now="2024-02-01", exclude_recent=False)

    assert model.ranker.fitted
    assert found[0].item_id == "habit-7" and found[0].reason == Reason.REPEAT
    assert 0 < found[0].score < 1


def test_a_pickled_model_suggests_the_same():
    categories = {"dress-1": "dress", "belt-new": "belt"}
    model = engine.model_build(_shop(), item_categories=categories, category_rules={"dress": ["belt"]})
    history = _history(("2024-01-02", "dress-1"), ("2024-03-20", "socks"))

    reloaded = pickle.loads(pickle.dumps(model))

    assert engine.suggest(reloaded, history, k=5, now="2024-04-01") == engine.suggest(
        model, history, k=5, now="2024-04-01"
    )


def test_a_customer_scores_the_same_alone_as_in_the_batches_the_ranker_is_fitted_on():
    rng = np.random.default_rng(1)
    orders = _orders(
        *(
            (f"c{c}", f"2024-01-{day:02d}", f"item-{i}")
            for c in range(40)
            for day in rng.choice(28, 3, replace=False) + 1
            for i in rng.choice(30, 4, replace=False)
        )
    )
    model = engine.model_build(orders)
    table = engine._Purchases.of(
        pd.factorize(orders["customer_id"])[0], engine._days(orders["date"]), model.items.get_indexer(orders["item_id"])
    )
    batch = engine._History(table.customer, table.basket_ago[table.basket], table.item, table.day, n_rows=40)

    together = engine._candidates(model.stats, batch, model.params)

    for customer in range(40):
        rows = table.customer == customer
        alone = engine._candidates(
            model.stats,
            engine._History(
                np.zeros(rows.sum(), dtype=np.int64), batch.ago[rows], table.item[rows], table.day[rows], 1
            ),
            model.params,
        )
        mine = together.row == customer
        assert (alone.item == together.item[mine]).all()
        np.testing.assert_allclose(alone.features, together.features[mine], rtol=1e-6)


def test_an_item_bought_in_the_basket_after_a_purchase_is_suggested_as_its_next_one():
    # Each kit is followed by its own refill in the customer's next basket, never in the same one; the refills
    # sell equally well, so only what follows what tells them apart.
    rows = []
    for n in range(60):
        kit = "a" if n % 2 else "b"
        rows += [(f"k{n}", "2024-03-01", f"kit-{kit}"), (f"k{n}", "2024-03-08", f"refill-{kit}")]
    model = engine.model_build(_orders(*rows), params=engine.Params(ranker_customers=20))
    kit_a, refill_a, refill_b = model.items.get_indexer(["kit-a", "refill-a", "refill-b"])

    after_a = engine.suggest(model, _history(("2024-03-30", "kit-a")), k=1, now="2024-04-01")
    after_b = engine.suggest(model, _history(("2024-03-30", "kit-b")), k=1, now="2024-04-01")

    assert model.stats.transition[kit_a, refill_a] == pytest.approx(1.0)
    assert model.stats.transition[kit_a, refill_b] == 0 and model.stats.similarity[kit_a, refill_a] == 0
    assert model.ranker.fitted
    assert _ids(after_a) == ["refill-a"] and _ids(after_b) == ["refill-b"]


def test_scores_summed_sparsely_for_a_large_catalogue_equal_the_dense_sums(monkeypatch):
    model = engine.model_build(_shop())
    history = _history(("2024-03-01", "dress-1"), ("2024-03-10", "tee-S"), ("2024-03-10", "socks"))
    dense = engine.suggest(model, history, k=5, now="2024-04-01", exclude_recent=False)

    monkeypatch.setattr(engine, "_DENSE_SUMS", 0)
    sparse = engine.suggest(model, history, k=5, now="2024-04-01", exclude_recent=False)

    assert _ids(sparse) == _ids(dense)
    assert [s.score for s in sparse] == pytest.approx([s.score for s in dense])
