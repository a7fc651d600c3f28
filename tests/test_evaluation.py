import numpy as np
import pytest

from lab.baselines import PopularityRecommender
from lab.recsys_bench import CEILING_LABEL, EVENTS_CEILING_LABEL, format_table, map_summary, run_recsys_bench
from recsys.evaluation import average_precision, evaluate, ndcg, recall, summarise, time_split
from recsys_helpers import attribute_vectors, events_frame, tiny_catalogue


def test_metrics_on_hand_worked_examples():
    recommended, relevant = np.array([5, 1, 7, 2]), np.array([1, 2, 9])
    assert average_precision(recommended, relevant, 12) == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert recall(recommended, relevant, 12) == pytest.approx(2 / 3)
    assert ndcg(recommended, relevant, 12) == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3) + 1 / np.log2(4)))
    assert average_precision(recommended, relevant, 1) == 0.0
    assert ndcg(np.array([1, 2]), np.array([1, 2]), 12) == pytest.approx(1.0)


def test_time_split_trains_on_the_past_and_tests_on_later_purchases():
    events = events_frame([("a", 100, "view", 0), ("a", 103, "purchase", 1), ("a", 106, "purchase", 10),
                           ("b", 109, "view", 9), ("c", 112, "purchase", 9.5)])
    split = time_split(events, test_fraction=0.2)
    assert split.train["timestamp"].max() < split.split_time
    assert {u: v.tolist() for u, v in split.truth.items()} == {"a": [106], "c": [112]}
    assert split.history_length(["a", "c"]).tolist() == [2, 0]


def test_evaluate_and_summarise_by_history_bucket():
    events = events_frame([("a", 100, "purchase", 0), ("a", 103, "view", 1), ("b", 100, "view", 2),
                           ("a", 106, "purchase", 10), ("z", 100, "purchase", 10)])
    split = time_split(events, test_fraction=0.2)
    model = PopularityRecommender(tiny_catalogue().ids).fit(split.train)
    per_user = evaluate(model, split, k=2)
    report = summarise(per_user, n_items=36)
    assert report["by_history"]["cold"]["users"] == 1 and report["by_history"]["<=2"]["users"] == 1
    assert report["by_history"]["cold"]["map"] == pytest.approx(1.0)  # z buys the most popular product
    assert report["overall"]["coverage"] == pytest.approx(len(set(np.concatenate(per_user["items"].tolist()))) / 36)


def test_recsys_bench_runs_end_to_end_on_a_tiny_catalogue():
    catalogue = tiny_catalogue()
    ids = np.array(catalogue.ids)
    report = run_recsys_bench(catalogue, ids, attribute_vectors(catalogue.products), n_users=300, log=lambda *_: None)
    summary = map_summary(report)
    assert summary["simulated"] is True
    assert set(summary["map_at_12"]) == {"tailorcard", "popularity", "itemknn", "als"}
    assert set(summary["by_history"]) == {"cold", "<=2", "3-10", ">10"}
    assert set(summary["ceiling_map_at_12"]["by_history"]) == set(summary["by_history"])
    assert summary["ceiling_map_at_12"]["overall"] > summary["map_at_12"]["popularity"]
    table = format_table(report)
    assert table.index(CEILING_LABEL) == len(table) - 6  # after the four models, then the oracle's five rows
    assert all(line.startswith("oracle") for line in table[-5:])
    assert table.index(EVENTS_CEILING_LABEL) == len(table) - 12  # the events ceiling's five rows come before
    events_ceiling = summary["events_ceiling_map_at_12"]
    assert events_ceiling["overall"] is None and events_ceiling["by_history"]["3-10"] is None
    assert events_ceiling["by_history"]["<=2"] > summary["by_history"]["<=2"]["popularity"]
    assert table[-8].split()[-4:] == ["n/a"] * 4  # the events ceiling's 3-10 row
