"""The real-behaviour bench (lab.purchase_bench, `bench recsys --events`) on tiny hand-made logs."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from features.ids import product_key
from lab.baselines import BuyAgainRecommender
from lab.purchase_bench import (PurchaseBenchError, parse_moment, purchase_split, real_summary,
                                run_purchase_bench)
from recsys.evaluation import evaluate
from recsys_helpers import attribute_vectors, events_frame, tiny_products
from service.cli import main

PRODUCTS = tiny_products()
IDS, VECTORS = PRODUCTS.index.to_numpy(), attribute_vectors(PRODUCTS)
T = 10.0  # hours after the helper's start


def cut(hours: float) -> float:
    return 1.7e9 + 3600.0 * hours


def hand_log():
    """a: two orders of 100 before T, then 106 in three orders after it; b: one order before, one after;
    c: a first-time buyer after T; d: a viewer only."""
    rows = [("a", 100, "purchase", 0), ("a", 103, "purchase", 0), ("a", 100, "purchase", 5),
            ("b", 103, "purchase", 2), ("d", 109, "view", 3),
            ("a", 106, "purchase", 20), ("a", 106, "purchase", 21), ("a", 106, "purchase", 22),
            ("a", 109, "view", 23), ("b", 112, "purchase", 30), ("c", 115, "purchase", 25)]
    return events_frame(rows)


def test_the_split_trains_on_the_past_and_tests_on_later_purchases_only():
    split = purchase_split(hand_log(), cut(T))
    assert split.train["timestamp"].max() < cut(T)
    assert {u: sorted(v.tolist()) for u, v in split.truth.items()} == {"a": [106], "b": [112], "c": [115]}
    assert split.history_length(["a", "b", "c", "d"]).tolist() == [2, 1, 0, 0]  # past orders, not events


def test_a_model_fitted_on_the_split_cannot_see_the_test_purchases():
    """Leaked into training, a's three orders of 106 would outrank 100 (two orders): AP@1 would be 1."""
    split = purchase_split(hand_log(), cut(T))
    model = BuyAgainRecommender(IDS).fit(split.train)
    assert 106 not in split.train["item_id"].tolist()
    per_user = evaluate(model, split, k=1, filter_already_bought=False).set_index("user_id")
    assert per_user.loc["a", "map"] == 0.0 and per_user.loc["a", "items"].tolist() == [100]


def test_a_test_window_can_start_later_and_end_early():
    split = purchase_split(hand_log(), cut(T), test_from=cut(21), test_until=cut(26))
    assert {u: v.tolist() for u, v in split.truth.items()} == {"a": [106], "c": [115]}
    with pytest.raises(PurchaseBenchError, match="must start at or after"):
        purchase_split(hand_log(), cut(T), test_from=cut(5))


def test_a_bare_date_until_means_the_whole_day():
    assert parse_moment("2011-07-31", end_of_day=True) == pd.Timestamp("2011-08-01").timestamp()
    assert parse_moment("2011-07-31") == pd.Timestamp("2011-07-31").timestamp()
    assert parse_moment("2011-07-31T12:00", end_of_day=True) == pd.Timestamp("2011-07-31 12:00").timestamp()
    with pytest.raises(PurchaseBenchError, match="not a date"):
        parse_moment("last tuesday")


def test_the_bench_reports_every_model_by_past_orders_and_cold_shoppers_apart():
    split = purchase_split(hand_log(), cut(T))
    report = run_purchase_bench(hand_log(), IDS, VECTORS, split, log=lambda *_: None)
    assert report["test_users"] == 2 and report["cold_users"] == 1
    summary = real_summary(report, "hand-made")
    assert summary["behaviour"] == "real" and summary["data"] == "hand-made"
    assert set(summary["map_at_12"]) == {"tailorcard", "popularity", "itemknn", "als", "buy_again"}
    assert set(summary["by_history"]) == {"<=2", "3-10", ">10"} and summary["by_history"]["<=2"]["users"] == 2
    assert set(summary["by_history"]["<=2"]) == {"users", "map_at_12", "recall_at_12", "ndcg_at_12", "coverage_at_12"}
    assert summary["cold"]["users"] == 1


def test_nothing_to_test_on_is_a_clear_error():
    split = purchase_split(hand_log(), cut(100))
    with pytest.raises(PurchaseBenchError, match="no test shoppers"):
        run_purchase_bench(hand_log(), IDS, VECTORS, split, log=lambda *_: None)


# ---- the command, on a tiny log in Online Retail's columns ----------------------------------------

def retail_csv(path, months: int = 3):
    """Six customers, each ordering three of six products every month (two months before the cut, one after)."""
    lines = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"]
    codes = ["85123A", "71053", "84406B", "22752", "21730", "22633"]
    for month in range(months):
        for customer in range(6):
            for k in range(3):
                code = codes[(customer + k + month * (customer % 2)) % 6]
                lines.append(f"5{month}{customer}00,{code},PRODUCT {code},2,2011-0{month + 1}-1{customer} 10:00:00,"
                             f"1.25,1{customer}000.0,United Kingdom")
    path.write_text("\n".join(lines) + "\n")
    return codes


def vectors_file(path, codes):
    keys = np.array([product_key(c) for c in codes], dtype=np.int64)
    vectors = np.random.default_rng(0).standard_normal((len(codes), 8)).astype(np.float32)
    np.savez(path, ids=keys, vectors=vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def test_the_command_benches_a_real_log_and_ends_with_one_json_line(tmp_path):
    codes = retail_csv(tmp_path / "log.csv")
    vectors_file(tmp_path / "vectors.npz", codes)
    result = CliRunner().invoke(main, ["bench", "recsys", "--events", str(tmp_path / "log.csv"), "--mapping",
                                       "online-retail", "--train-until", "2011-02-28", "--vectors",
                                       str(tmp_path / "vectors.npz"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["behaviour"] == "real" and "doi.org/10.24432/C5BW33" in summary["data"]
    assert summary["test_users"] == 6 and summary["filter_already_bought"] is False
    assert "REAL behaviour" in result.output


def test_the_command_says_clearly_when_the_test_window_is_empty(tmp_path):
    retail_csv(tmp_path / "log.csv")
    result = CliRunner().invoke(main, ["bench", "recsys", "--events", str(tmp_path / "log.csv"), "--mapping",
                                       "online-retail", "--train-until", "2011-03-31", "--json"])
    assert result.exit_code == 2 and "no test shoppers" in result.output
