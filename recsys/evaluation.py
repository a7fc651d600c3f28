"""Offline evaluation: train on behaviour before time T, predict each user's purchases after T.

Metrics at k (12 by default), per user then averaged: Recall@k, NDCG@k, MAP@k (average
precision over min(|purchases|, k), as in the H&M Kaggle competition), plus catalogue coverage
(share of products recommended to anyone). Users are also grouped by how many training events
they have: cold (0), <=2 (1-2), 3-10, >10.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.events import NO_ITEM
from recsys.contract import BaseRecommender

HISTORY_BUCKETS = {"cold": (0, 0), "<=2": (1, 2), "3-10": (3, 10), ">10": (11, np.inf)}
METRICS = ("recall", "ndcg", "map")


@dataclass
class TimeSplit:
    train: pd.DataFrame
    truth: dict[str, np.ndarray]  # user -> products purchased at or after split_time
    split_time: float

    def history_length(self, user_ids) -> np.ndarray:
        counts = self.train["user_id"].value_counts()
        return counts.reindex(list(user_ids), fill_value=0).to_numpy()


def time_split(events: pd.DataFrame, test_fraction: float = 0.2) -> TimeSplit:
    """T is the point `test_fraction` of the time span before the last event."""
    start, end = events["timestamp"].min(), events["timestamp"].max()
    split_time = end - test_fraction * (end - start)
    train = events[events["timestamp"] < split_time]
    test = events[(events["timestamp"] >= split_time) & (events["type"] == "purchase") & (events["item_id"] != NO_ITEM)]
    truth = {str(u): g.unique() for u, g in test.groupby("user_id")["item_id"]}
    return TimeSplit(train.reset_index(drop=True), truth, float(split_time))


def average_precision(recommended: np.ndarray, relevant: np.ndarray, k: int) -> float:
    hits = np.isin(recommended[:k], relevant)
    if not hits.any():
        return 0.0
    precision_at_hits = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
    return float(precision_at_hits.sum() / min(len(relevant), k))


def ndcg(recommended: np.ndarray, relevant: np.ndarray, k: int) -> float:
    gains = np.isin(recommended[:k], relevant) / np.log2(np.arange(2, min(k, len(recommended)) + 2))
    ideal = (1.0 / np.log2(np.arange(2, min(k, len(relevant)) + 2))).sum()
    return float(gains.sum() / ideal)


def recall(recommended: np.ndarray, relevant: np.ndarray, k: int) -> float:
    return float(np.isin(relevant, recommended[:k]).sum() / len(relevant))


def evaluate(model: BaseRecommender, split: TimeSplit, k: int = 12, batch_size: int = 512,
             filter_already_bought: bool | None = True) -> pd.DataFrame:
    """One row per test user: history length, recall, ndcg, map, and the recommended ids."""
    users = list(split.truth)
    rows = []
    for start in range(0, len(users), batch_size):
        for result in model.recommend_many(users[start:start + batch_size], n=k,
                                           filter_already_bought=filter_already_bought):
            relevant = split.truth[result.user_id]
            rows.append({"user_id": result.user_id, "recall": recall(result.item_ids, relevant, k),
                         "ndcg": ndcg(result.item_ids, relevant, k),
                         "map": average_precision(result.item_ids, relevant, k), "items": result.item_ids})
    frame = pd.DataFrame(rows)
    frame["history"] = split.history_length(frame["user_id"])
    return frame


def summarise(per_user: pd.DataFrame, n_items: int) -> dict:
    """Overall and per-history-bucket means, plus coverage and user counts."""
    def block(frame: pd.DataFrame) -> dict:
        out = {m: float(frame[m].mean()) if len(frame) else float("nan") for m in METRICS}
        recommended = np.unique(np.concatenate(frame["items"].to_list())) if len(frame) else []
        return {**out, "coverage": len(recommended) / n_items, "users": int(len(frame))}

    buckets = {name: block(per_user[per_user["history"].between(low, high)])
               for name, (low, high) in HISTORY_BUCKETS.items()}
    return {"overall": block(per_user), "by_history": buckets}
