"""The one recommendation contract every model here follows (tailorcard and the baselines).

    model.fit(events)                       # validated events (features.events)
    model.recommend(user_id, n=12, filter_already_bought=None, filter_items=None, explain=False)
    model.recommend_many(user_ids, ...)     # the same for a batch; one result per user

Results are implicit-style arrays: product ids best first and their scores.
`filter_already_bought`: True hides what the user bought, False keeps it, None (the default) leaves
it to the model's own policy: the baselines hide it; tailorcard learns per store whether to.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Recommendations:
    """One user's ranked products. `explanations[i]` says why `item_ids[i]` is there (if asked)."""

    user_id: str
    item_ids: np.ndarray
    scores: np.ndarray
    explanations: list[list[dict]] | None = field(default=None)

    def __len__(self) -> int:
        return len(self.item_ids)

    def to_records(self) -> list[dict]:
        records = [{"item_id": int(i), "score": float(s)} for i, s in zip(self.item_ids, self.scores)]
        for record, because in zip(records, self.explanations or []):
            record["because"] = because
        return records


class BaseRecommender:
    """Shared front of every model: single-user calls go through the batched path."""

    name = "base"

    def fit(self, events: pd.DataFrame) -> "BaseRecommender":
        raise NotImplementedError

    def recommend_many(self, user_ids, n: int = 12, filter_already_bought: bool | None = None,
                       filter_items=None, explain: bool = False) -> list[Recommendations]:
        raise NotImplementedError

    def recommend(self, user_id, n: int = 12, filter_already_bought: bool | None = None,
                  filter_items=None, explain: bool = False) -> Recommendations:
        return self.recommend_many([user_id], n, filter_already_bought, filter_items, explain)[0]


def wants_filter(filter_already_bought: bool | None, policy: bool = True) -> bool:
    """Whether to hide already-bought products: as the call asks, or the model's policy when it leaves it (None)."""
    return policy if filter_already_bought is None else bool(filter_already_bought)


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Column positions of the n best finite scores per row, best first; -1 pads rows with fewer."""
    n = min(n, scores.shape[1])
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n] if n < scores.shape[1] else \
        np.tile(np.arange(scores.shape[1]), (len(scores), 1))
    ordered = np.take_along_axis(part, np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable"), 1)
    return np.where(np.isfinite(np.take_along_axis(scores, ordered, 1)), ordered, -1)


def as_recommendations(user_ids, item_ids: np.ndarray, scores: np.ndarray, positions: np.ndarray,
                       explanations=None) -> list[Recommendations]:
    """Per user: the products at `positions` (-1 = none) of per-row candidate arrays."""
    out = []
    for row, user_id in enumerate(user_ids):
        keep = positions[row][positions[row] >= 0]
        ids = item_ids[row, keep] if item_ids.ndim == 2 else item_ids[keep]
        out.append(Recommendations(str(user_id), ids.astype(np.int64), scores[row, keep].astype(np.float32),
                                   None if explanations is None else explanations[row][:len(keep)]))
    return out
