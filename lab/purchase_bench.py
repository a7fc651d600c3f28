"""`tailorcard bench recsys --events`: tailorcard vs baselines on a store's REAL purchase log.

No simulator: train on every event before a cut, then for each shopper who bought before the
cut and buys in the test window, score the top k against the products they bought there.
Shoppers are grouped by how many orders (distinct sessions with a purchase) they placed before
the cut; shoppers buying for the first time in the test window are reported apart ("cold").
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import TailorcardError
from features.events import NO_ITEM
from lab.baselines import REPEAT_BASELINES
from recsys.evaluation import HISTORY_BUCKETS, TimeSplit, evaluate, summarise
from recsys.recommender import Recommender, RecommenderConfig
from recsys.repurchase import purchase_orders

MODEL_ORDER = ("tailorcard", *REPEAT_BASELINES)
WARM_BUCKETS = tuple(bucket for bucket in HISTORY_BUCKETS if bucket != "cold")  # by past orders


class PurchaseBenchError(TailorcardError):
    """A real-behaviour bench that cannot be run as asked (e.g. nothing to test on)."""


@dataclass
class PurchaseSplit(TimeSplit):
    """A TimeSplit whose history length is the number of past orders, not events."""

    orders: pd.Series  # user -> distinct orders with a purchase before the cut
    test_from: float
    test_until: float

    def history_length(self, user_ids) -> np.ndarray:
        return self.orders.reindex([str(u) for u in user_ids], fill_value=0).to_numpy()


def parse_moment(text: str, end_of_day: bool = False) -> float:
    """Epoch seconds (UTC) of an ISO date or time; a bare date with `end_of_day` means the whole day."""
    try:
        moment = pd.Timestamp(text)
    except ValueError:
        raise PurchaseBenchError(f"{text!r} is not a date or time; expected e.g. 2011-07-31 or 2011-07-31T12:00") from None
    moment = moment.tz_convert("UTC").tz_localize(None) if moment.tzinfo else moment
    whole_day = end_of_day and len(text.strip()) <= 10
    return ((moment + pd.Timedelta(days=1) if whole_day else moment) - pd.Timestamp(0)) / pd.Timedelta(seconds=1)


def purchase_split(events: pd.DataFrame, train_until: float, test_from: float | None = None,
                   test_until: float | None = None) -> PurchaseSplit:
    """Train: every event before train_until. Truth: what each shopper bought in [test_from, test_until)."""
    test_from = train_until if test_from is None else test_from
    test_until = np.inf if test_until is None else test_until
    if test_from < train_until:
        raise PurchaseBenchError("the test window must start at or after the end of training, or training would "
                                 "see test purchases")
    time_ = events["timestamp"]
    train = events[time_ < train_until].reset_index(drop=True)
    bought = (events["type"] == "purchase") & (events["item_id"] != NO_ITEM)
    test = events[bought & (time_ >= test_from) & (time_ < test_until)]
    truth = {str(u): g.unique() for u, g in test.groupby("user_id")["item_id"]}
    return PurchaseSplit(train, truth, float(train_until), past_orders(train), float(test_from), float(test_until))


def past_orders(events: pd.DataFrame) -> pd.Series:
    """Per user, distinct orders with a purchase (recsys.repurchase's orders)."""
    return purchase_orders(events).groupby("user_id")["order"].nunique()


def run_purchase_bench(events: pd.DataFrame, item_ids, vectors, split: PurchaseSplit, k: int = 12,
                       config: RecommenderConfig | None = None, log=print) -> dict:
    """Fit every model on the split's past; MAP/recall/NDCG@k and coverage overall, by past orders, cold."""
    warm = require_test_shoppers(events, split)
    tailorcard = Recommender.from_vectors(item_ids, vectors, config=config)
    results, started = {}, time.perf_counter()
    for name in MODEL_ORDER:
        model = tailorcard if name == "tailorcard" else REPEAT_BASELINES[name](item_ids)
        model.fit(split.train)
        # tailorcard keeps or hides already-bought products as it learned from the store; the baselines
        # are given the same decision, so none is handicapped by hiding what shoppers buy again
        asked = None if name == "tailorcard" else tailorcard.filters_bought
        results[name] = _summary(evaluate(model, split, k, filter_already_bought=asked), len(item_ids))
        log(f"  {name}: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
    return {"behaviour": "real", "k": k, "train_until": split.split_time, "test_from": split.test_from,
            "test_until": split.test_until, "train_events": len(split.train), "test_users": len(warm),
            "cold_users": len(split.truth) - len(warm), "repeat_share": tailorcard.repurchase.repeat_share,
            "filter_already_bought": tailorcard.filters_bought, "models": results}


def require_test_shoppers(events: pd.DataFrame, split: PurchaseSplit) -> list[str]:
    """The shoppers with past orders who buy in the test window; a clear error when there are none."""
    warm = [u for u, orders in zip(split.truth, split.history_length(split.truth)) if orders > 0]
    if not warm:
        raise PurchaseBenchError(_empty_test_message(events, split))
    return warm


def _summary(per_user: pd.DataFrame, n_items: int) -> dict:
    """Shoppers with past orders overall and by bucket; first-time buyers apart."""
    warm = summarise(per_user[per_user["history"] > 0], n_items)
    cold = summarise(per_user[per_user["history"] == 0], n_items)["overall"]
    return {"overall": warm["overall"], "by_history": {b: warm["by_history"][b] for b in WARM_BUCKETS}, "cold": cold}


def _empty_test_message(events: pd.DataFrame, split: PurchaseSplit) -> str:
    last = _day_text(events["timestamp"].max()) if len(events) else "nothing"
    return (f"no test shoppers: nobody with an earlier purchase buys in the test window from {_day_text(split.test_from)} "
            f"up to {_day_text(split.test_until)}; the log's last usable event is at {last}. Pick an earlier --train-until "
            "(e.g. two months before the log's end), or run on a log that continues past the cut")


def _day_text(seconds: float) -> str:
    return "the end" if not np.isfinite(seconds) else pd.Timestamp(seconds, unit="s").strftime("%Y-%m-%d %H:%M")


# ---- output ---------------------------------------------------------------------------------

METRIC_KEYS = {"map": "map_at_12", "recall": "recall_at_12", "ndcg": "ndcg_at_12", "coverage": "coverage_at_12"}


def real_summary(report: dict, attribution: str) -> dict:
    """The --json line: each metric per model, overall, per bucket of past orders and for cold shoppers."""
    models = report["models"]

    def block(pick) -> dict:
        return {key: {m: round(pick(r)[metric], 5) for m, r in models.items()} for metric, key in METRIC_KEYS.items()}

    first = next(iter(models.values()))
    return {"behaviour": "real", "data": attribution, "k": report["k"],
            "train_until": _day_text(report["train_until"]), "test_from": _day_text(report["test_from"]),
            "test_until": _day_text(report["test_until"]), "test_users": report["test_users"],
            "repeat_share": round(report["repeat_share"], 4), "filter_already_bought": report["filter_already_bought"],
            **block(lambda r: r["overall"]),
            "by_history": {b: {"users": first["by_history"][b]["users"], **block(lambda r, b=b: r["by_history"][b])}
                           for b in WARM_BUCKETS},
            "cold": {"users": first["cold"]["users"], **block(lambda r: r["cold"])} if first["cold"]["users"] else None}


def format_real_table(report: dict, attribution: str) -> list[str]:
    k = report["k"]
    lines = [f"REAL behaviour: {attribution}",
             f"train before {_day_text(report['train_until'])} ({report['train_events']:,} events), test purchases from "
             f"{_day_text(report['test_from'])} up to {_day_text(report['test_until'])}: {report['test_users']:,} shoppers "
             f"with past orders, {report['cold_users']:,} first-time buyers (cold, apart); metrics @{k}",
             f"repeat purchases are {report['repeat_share']:.1%} of training purchases: already-bought products "
             f"{'hidden' if report['filter_already_bought'] else 'kept'} for every model",
             f"{'model':<12}{'orders':<9}{'users':>7}{'recall':>9}{'ndcg':>9}{'map':>9}{'coverage':>10}"]
    for name, result in report["models"].items():
        blocks = {"overall": result["overall"], **result["by_history"], "cold": result["cold"]}
        lines += [f"{name:<12}{bucket:<9}{b['users']:>7}{b['recall']:>9.4f}{b['ndcg']:>9.4f}{b['map']:>9.4f}"
                  f"{b['coverage']:>10.4f}" for bucket, b in blocks.items() if b["users"]]
    return lines
