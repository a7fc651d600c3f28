"""New arrivals get seen: a product added after the fit has no popularity and no co-visits yet, so on
popularity alone it would never beat the established products it looks like. While it is new it gets

    borrowed popularity  its prior is newness * borrowed + (1 - newness) * own, where borrowed is the
                         mean log-popularity of its `fresh_neighbours` nearest established products in
                         the vector space (what products like it earn) and own is what it has earned
                         (with no established neighbour, or fresh_neighbours 0, it keeps its own)
    a boost              fresh_weight * confidence(user) * newness, only for shoppers for whom it is among
                         the `fresh_reach` best taste matches of their candidates: shown to the shoppers
                         whose taste it fits, not to everyone (cold shoppers, confidence 0, get none)

    newness = 2 ** (-age / fresh_half_life_days) * fresh_evidence / (fresh_evidence + popularity)

age is the time since it was added (`added_at`, epoch seconds, or when it was upserted); popularity is
the decayed, weighted event count the fit learned for it (a view 1, a purchase 6): the borrowed prior
and the boost fade as it ages and as it earns real evidence, halving at fresh_evidence of it. A product
known at the fit is established (newness 0) unless it is later upserted with an explicit `added_at`.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from features.preferences import DAY, half_life_decay

SETTLED = 1e-3  # newness below this is established: forgotten at the next fit


class Freshness:
    """When each new arrival was added and the log-popularity it borrows from its look-alikes, by product id.

    `config` arguments are anything with the fresh_* fields (recsys.recommender.RecommenderConfig)."""

    def __init__(self, ids=(), added_at=(), borrowed=(), clock=time.time):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.added_at = np.asarray(added_at, dtype=np.float64)
        self.borrowed = np.asarray(borrowed, dtype=np.float64)
        self.clock = clock  # "now" for ages; the bench and the tests set their own

    def __len__(self) -> int:
        return len(self.ids)

    def _rows(self, item_ids) -> np.ndarray:
        return pd.Index(self.ids).get_indexer(np.asarray(item_ids, dtype=np.int64).ravel())

    # ---- product changes --------------------------------------------------------------------

    def add(self, item_id: int, added_at: float | None, index, items, neighbours: int) -> None:
        """Mark a product new (a known one keeps its added_at unless given) and borrow its neighbours' popularity."""
        row = self._rows([item_id])[0]
        if row < 0:
            self.ids = np.append(self.ids, np.int64(item_id))
            self.added_at = np.append(self.added_at, self.clock() if added_at is None else float(added_at))
            self.borrowed = np.append(self.borrowed, np.nan)
            row = len(self.ids) - 1
        elif added_at is not None:
            self.added_at[row] = float(added_at)
        self.borrowed[row] = self._borrow(index.vectors_of([item_id]), index, items, neighbours)[0]

    def forget(self, item_id: int) -> None:
        keep = self.ids != int(item_id)
        self.ids, self.added_at, self.borrowed = self.ids[keep], self.added_at[keep], self.borrowed[keep]

    def refresh(self, index, items, config) -> None:
        """After a fit: forget products now established (or gone), re-borrow from the new popularity."""
        newness = self.newness(items, self.ids, config)
        keep = (newness >= SETTLED) & (items.rows(self.ids) >= 0)
        self.ids, self.added_at, self.borrowed = self.ids[keep], self.added_at[keep], self.borrowed[keep]
        if len(self):
            self.borrowed = self._borrow(index.vectors_of(self.ids), index, items, config.fresh_neighbours)

    def _borrow(self, vectors: np.ndarray, index, items, neighbours: int) -> np.ndarray:
        """Mean log1p popularity of each vector's nearest established products (log: one blockbuster
        neighbour must not lend a niche product its fame); NaN where there is none to borrow from."""
        if neighbours == 0:
            return np.full(len(vectors), np.nan)
        _, near = index.search(vectors, neighbours + len(self) + 1)  # room to skip every new product
        rows = items.rows(near.ravel()).reshape(near.shape)
        established = (near >= 0) & (rows >= 0) & ~np.isin(near, self.ids)
        first = established & (np.cumsum(established, axis=1) <= neighbours)
        logs = np.where(first, np.log1p(items.popularity[np.maximum(rows, 0)]), 0.0)
        return np.where(first.any(1), logs.sum(1) / np.maximum(first.sum(1), 1), np.nan)

    # ---- scoring ----------------------------------------------------------------------------

    def newness(self, items, item_ids: np.ndarray, config) -> np.ndarray:
        """1 for a product just added with no evidence, fading with age and earned popularity; 0 for
        established products. Same shape as item_ids."""
        out = np.zeros(np.shape(item_ids))
        if not len(self):
            return out
        rows = self._rows(item_ids).reshape(out.shape)
        new = rows >= 0
        age = np.maximum(self.clock() - self.added_at[rows[new]], 0.0)
        popularity = items.popularity[np.maximum(items.rows(np.asarray(item_ids)[new]), 0)]
        out[new] = half_life_decay(age, config.fresh_half_life_days) * \
            config.fresh_evidence / (config.fresh_evidence + popularity)
        return out

    def score(self, items, ids: np.ndarray, confidence: np.ndarray, similarity: np.ndarray, config) -> np.ndarray:
        """(users, candidates): what being new adds to each candidate's score; 0 for established products.

        popularity_weight * (blended prior - own prior) + the boost, gated by the user's fresh_reach-th
        best similarity among their candidates."""
        newness = self.newness(items, ids, config)
        if not newness.any():
            return np.zeros(ids.shape)
        top = np.log1p(items.popularity.max()) if len(items) else 0.0
        own = np.log1p(items.popularity[np.maximum(items.rows(ids.ravel()), 0)]).reshape(ids.shape)
        borrowed = self.borrowed[np.maximum(self._rows(ids), 0)].reshape(ids.shape)
        lent = newness * np.where(np.isnan(borrowed), 0.0, borrowed - own)  # nothing borrowed: its own
        prior = config.popularity_weight * lent / top if top > 0 else np.zeros(ids.shape)
        reach = min(config.fresh_reach, similarity.shape[1])
        kth = -np.partition(-similarity, reach - 1, axis=1)[:, reach - 1:reach]
        boost = config.fresh_weight * confidence[:, None] * newness * (similarity >= kth)
        return prior + boost

    def days_since_added(self, item_ids) -> np.ndarray:
        """Per product; NaN for established ones."""
        rows = self._rows(item_ids)
        out = np.full(len(rows), np.nan)
        out[rows >= 0] = (self.clock() - self.added_at[rows[rows >= 0]]) / DAY
        return out

    # ---- persistence ------------------------------------------------------------------------

