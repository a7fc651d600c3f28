"""Baselines behind the same contract: popularity, item-item co-occurrence, implicit ALS, buy-again.

The first three learn from the users x products matrix of positive event weights (negative events
are ignored: none of these models has a notion of 'away'). Users they never saw get the
popularity ranking, as is usual for them. Buy-again ranks each shopper's own purchases (the
personal top-frequency baseline of Li et al., "A Next Basket Recommendation Reality Check").
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from features.events import NO_ITEM
from features.preferences import DEFAULT_WEIGHTS, event_type_weights
from recsys.contract import BaseRecommender, Recommendations, as_recommendations, top_n, wants_filter
from recsys.repurchase import purchase_orders

TIE_BREAK = 1e-6  # equal scores (e.g. zero co-occurrence) are ordered by popularity


class InteractionModel(BaseRecommender):
    """Shared fit / filter / rank for models that score every product for a user."""

    def __init__(self, item_ids, event_weights: dict | None = None):
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self._items = pd.Index(self.item_ids)
        self.event_weights = event_weights or DEFAULT_WEIGHTS

    def fit(self, events: pd.DataFrame) -> "InteractionModel":
        events = events[events["item_id"] != NO_ITEM]
        users, user_ids = pd.factorize(events["user_id"].astype(str))
        self._users = pd.Index(user_ids)
        items = self._items.get_indexer(events["item_id"].to_numpy())
        weights = event_type_weights(events["type"], self.event_weights)
        positive = (weights > 0) & (items >= 0)
        shape = (len(user_ids), len(self.item_ids))
        self.interactions = sp.csr_matrix((weights[positive], (users[positive], items[positive])), shape=shape)
        bought = positive & (events["type"].to_numpy() == "purchase")
        self.bought = sp.csr_matrix((np.ones(int(bought.sum())), (users[bought], items[bought])), shape=shape)
        self.popularity = np.asarray(self.interactions.sum(axis=0)).ravel()
        self._fit_model()
        return self

    def _fit_model(self) -> None:
        """Learn from self.interactions; nothing to learn by default."""

    def _scores(self, user_rows: np.ndarray) -> np.ndarray:
        """(len(user_rows), n_items) scores for known users."""
        raise NotImplementedError

    def _user_scores(self, user_ids: list[str], rows: np.ndarray) -> np.ndarray:
        """(len(user_ids), n_items) scores; users unseen in training (row -1) get the popularity ranking."""
        known = rows >= 0
        scores = np.tile(self.popularity.astype(float), (len(rows), 1))
        if known.any():
            scores[known] = self._scores(rows[known])
        return scores + TIE_BREAK * self.popularity / max(self.popularity.max(), 1e-12)

    def recommend_many(self, user_ids, n: int = 12, filter_already_bought: bool | None = None,
                       filter_items=None, explain: bool = False) -> list[Recommendations]:
        user_ids = [str(u) for u in user_ids]
        rows = self._users.get_indexer(user_ids)
        known = rows >= 0
        scores = self._user_scores(user_ids, rows)
        if filter_items is not None:
            excluded = self._items.get_indexer(np.asarray(list(filter_items), dtype=np.int64))
            scores[:, excluded[excluded >= 0]] = -np.inf
        if wants_filter(filter_already_bought) and known.any():
            bought = self.bought[rows[known]].tocoo()
            scores[np.flatnonzero(known)[bought.row], bought.col] = -np.inf
        positions = top_n(scores, n)
        explanations = [[[{"model": self.name}] for _ in range(n)] for _ in user_ids] if explain else None
        return as_recommendations(user_ids, self.item_ids, scores, positions, explanations)


class PopularityRecommender(InteractionModel):
    name = "popularity"

    def _scores(self, user_rows):
        return np.tile(self.popularity.astype(float), (len(user_rows), 1))


class ItemKNNRecommender(InteractionModel):
    """Score = sum over the user's products of cosine co-occurrence with each candidate."""

    name = "itemknn"

    def _fit_model(self) -> None:
        seen = (self.interactions > 0).astype(np.float64)
        co = (seen.T @ seen).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        norms = np.sqrt(np.asarray(seen.sum(axis=0)).ravel())
        scale = sp.diags(1.0 / np.maximum(norms, 1.0))
        self.similarity = (scale @ co @ scale).tocsr()

    def _scores(self, user_rows):
        return np.asarray((self.interactions[user_rows] @ self.similarity).todense())


class ALSRecommender(InteractionModel):
    """Implicit-feedback matrix factorisation from the `implicit` library (CPU)."""

    name = "als"

    def __init__(self, item_ids, event_weights: dict | None = None, factors: int = 64,
                 regularization: float = 0.05, iterations: int = 15, seed: int = 0):
        super().__init__(item_ids, event_weights)
        self.params = {"factors": factors, "regularization": regularization, "iterations": iterations,
                       "random_state": seed}

    def _fit_model(self) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        with threadpool_limits(1, "blas"):  # implicit parallelises itself; nested BLAS threads only slow it
            model = AlternatingLeastSquares(**self.params)  # (it checks the BLAS threads when built)
            model.fit(self.interactions.astype(np.float32), show_progress=False)
        self.user_factors, self.item_factors = model.user_factors, model.item_factors

    def _scores(self, user_rows):
        return self.user_factors[user_rows] @ self.item_factors.T


class BuyAgainRecommender(InteractionModel):
    """Each shopper's own products by how many of their orders held them (the latest order breaks ties),
    then the popular ones."""

    name = "buy_again"

    def fit(self, events: pd.DataFrame) -> "BuyAgainRecommender":
        super().fit(events)
        orders = purchase_orders(events)
        pairs = orders.groupby(["user_id", "item_id"])["timestamp"].agg(["size", "max"])
        rows = self._users.get_indexer(pairs.index.get_level_values(0))
        columns = self._items.get_indexer(pairs.index.get_level_values(1))
        known = columns >= 0
        start, end = (events["timestamp"].min(), events["timestamp"].max()) if len(events) else (0.0, 1.0)
        recency = 0.5 * (pairs["max"].to_numpy() - start) / max(end - start, 1.0)  # below 1: breaks ties only
        self.own = sp.csr_matrix((1.0 + pairs["size"].to_numpy()[known] + recency[known],
                                  (rows[known], columns[known])), shape=self.bought.shape)
        return self

    def _scores(self, user_rows):
        popular = self.popularity / max(self.popularity.max(), 1e-12)  # at most 1: under every own product
        return popular + self.own[user_rows].toarray()


BASELINES = {m.name: m for m in (PopularityRecommender, ItemKNNRecommender, ALSRecommender)}
REPEAT_BASELINES = {**BASELINES, BuyAgainRecommender.name: BuyAgainRecommender}  # for repeat-purchase logs
