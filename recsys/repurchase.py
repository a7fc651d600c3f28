"""Buying again: how much of a store's demand is re-orders, and what each shopper will order next.

Learned from purchases at `fit` (changes only at the next fit, like popularity and co-visitation):

    repurchase(u, i) = ( own(u, i) + neighbour_weight * novelty(u) * neighbours(u, i) ) * demand(i) ** demand_exponent

own(u, i)         the orders of u holding i, each weighing 2 ** (-age / half_life), times
                  (1 + spend(u, i)) ** spend_exponent (what u spent on i: a trade buyer's staple) and
                  rebuy(i) ** rebuy_exponent; scaled so the user's strongest is 1
rebuy(i)          the product's re-order rate relative to the store's: of the shoppers who had bought i
                  before the last `rebuy_window_days` of the log and ordered anything in them, the share
                  who bought i again (smoothed towards the store's rate): staples against one-offs
neighbours(u, i)  what the user's nearest shoppers bought (cosine of idf-weighted bought sets, k of them,
                  as in TIFU-KNN / user-kNN), scaled so the user's strongest is 1
novelty(u)        the user's share of first-time products in their repeat orders, relative to the
                  store's (smoothed): shoppers who try new things get more of their neighbours' products
demand(i)         purchases with a short half-life, as a share of the top product's: what sells now
                  (the season: gift wholesalers stock Christmas lines from the summer on)

`repeat_share` (of the purchases learned from, the share that re-order a product the shopper had
bought before) is what the recommender's `filter_already_bought="auto"` decides by, per store.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.checks import check_fields, number, whole
from features.errors import TailorcardError
from features.events import NO_ITEM
from features.preferences import DAY

DEMAND_FLOOR = 1e-3  # a product nobody bought lately still ranks by its other evidence
NOVELTY_PRIOR_ORDERS = 10  # pseudo-orders at the store's novelty share for a user with few orders
REBUY_PRIOR_SHOPPERS = 5  # pseudo-shoppers at the store's re-buy rate for a product with few buyers


def purchase_orders(events: pd.DataFrame) -> pd.DataFrame:
    """One row per (user, product, order) bought: user_id, item_id, order, timestamp, spend. An order is a
    session; in a log without sessions each purchase moment is its own order. spend: summed positive value."""
    bought = events[(events["type"] == "purchase").to_numpy() & (events["item_id"] != NO_ITEM).to_numpy()]
    session = bought["session_id"] if "session_id" in bought else pd.Series("", index=bought.index)
    value = bought["value"] if "value" in bought else pd.Series(np.nan, index=bought.index)
    lines = pd.DataFrame({"user_id": bought["user_id"].astype(str).to_numpy(), "item_id": bought["item_id"].to_numpy(),
                          "order": session.where(session != "", bought["timestamp"].astype(str)).to_numpy(),
                          "timestamp": bought["timestamp"].to_numpy(),
                          "spend": value.fillna(0.0).clip(lower=0.0).to_numpy()})
    return lines.groupby(["user_id", "item_id", "order"], as_index=False, sort=False).agg(
        timestamp=("timestamp", "min"), spend=("spend", "sum"))


def repeat_share(events: pd.DataFrame) -> float:
    """Share of bought (user, product, order)s where the user had bought the product in an earlier order."""
    return _repeat_share(purchase_orders(events))


def _repeat_share(orders: pd.DataFrame) -> float:
    if not len(orders):
        return 0.0
    first = orders.groupby(["user_id", "item_id"])["timestamp"].transform("min")
    return float((orders["timestamp"] > first).mean())


class RepurchaseError(TailorcardError):
    """Repurchase settings or tables that cannot be used."""


@dataclass
class RepurchaseConfig:
    """Tuned on Online Retail, inside the data only (train to 2011-06-30 / test July; to 07-31 / Aug-Sep)."""

    half_life_days: float = 180.0  # a past order's weight halves in this time (long: trade buyers re-stock slowly)
    spend_exponent: float = 0.1  # how much what the user spent on a product adds; 0 = not at all
    rebuy_window_days: float = 30.0  # the last days of the log where products' re-order rates are measured
    rebuy_exponent: float = 0.5  # 0 = every product re-ordered alike
    neighbours: int = 50  # nearest shoppers per user
    neighbour_weight: float = 0.2  # neighbours' products against the user's own (0 = buy-again alone)
    novelty_exponent: float = 1.0  # 0 = every user as novelty-seeking as the store's average
    demand_half_life_days: float = 14.0  # what sells now
    demand_exponent: float = 0.25  # 0 = ignore what sells now

    def check_inputs(self, error: type[Exception] = None) -> None:
        check_fields(self, error or RepurchaseError, (
            ("half_life_days", number(self.half_life_days, 0, above=True), "a number > 0"),
            ("spend_exponent", number(self.spend_exponent, 0), "a number >= 0"),
            ("rebuy_window_days", number(self.rebuy_window_days, 0, above=True), "a number > 0"),
            ("rebuy_exponent", number(self.rebuy_exponent, 0), "a number >= 0"),
            ("neighbours", whole(self.neighbours, 1), "an integer >= 1"),
            ("neighbour_weight", number(self.neighbour_weight, 0), "a number >= 0"),
            ("novelty_exponent", number(self.novelty_exponent, 0), "a number >= 0"),
            ("demand_half_life_days", number(self.demand_half_life_days, 0, above=True), "a number > 0"),
            ("demand_exponent", number(self.demand_exponent, 0), "a number >= 0"),
        ))


class Repurchase:
    """The fitted tables, by user and product position; `scores` reads them for a batch of users."""

    def __init__(self, item_ids=(), config: RepurchaseConfig | None = None):
        self.config = config or RepurchaseConfig()
        self.config.check_inputs()
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self._items = pd.Index(self.item_ids)
        self._users = pd.Index([], dtype=object)
        n = len(self.item_ids)
        self.own = sp.csr_matrix((0, n))  # users x products, scaled to 1 per user
        self.neighbours = sp.csr_matrix((0, n))  # users x products, scaled to 1 per user
        self.novelty = np.zeros(0)
        self.demand = np.ones(n)  # demand(i) ** demand_exponent
        self.repeat_share = 0.0  # of the purchases learned from (see repeat_share)
        self.mix = sp.csr_matrix((0, n))  # users x products: the score itself, derived once per fit (_mixed)

    @classmethod
    def from_events(cls, item_ids, events: pd.DataFrame, config: RepurchaseConfig | None = None,
                    tables=True) -> "Repurchase":
        """Learn from validated events. `tables`: whether to learn the tables too, or a function of the
        store's repeat share that says so (the share alone is cheap; the orders are read once either way)."""
        model = cls(item_ids, config)
        orders = purchase_orders(events)
        model.repeat_share = _repeat_share(orders)
        orders = orders[model._items.get_indexer(orders["item_id"].to_numpy()) >= 0]
        wanted = tables(model.repeat_share) if callable(tables) else tables
        if not wanted or not len(orders):
            return model
        now = float(events["timestamp"].max())
        model._users = pd.Index(pd.unique(orders["user_id"]))
        rows = model._users.get_indexer(orders["user_id"])
        columns = model._items.get_indexer(orders["item_id"].to_numpy())
        model.own = _row_scaled(model._own(orders, rows, columns, now))
        model.neighbours = _row_scaled(model._neighbour_products(rows, columns))
        model.novelty = _novelty(orders, rows, len(model._users)) ** model.config.novelty_exponent
        model.demand = (_demand(orders, columns, now, model.config.demand_half_life_days, len(model.item_ids))
                        + DEMAND_FLOOR) ** model.config.demand_exponent
        model.mix = model._mixed()
        return model

    def _own(self, orders: pd.DataFrame, rows, columns, now: float) -> sp.csr_matrix:
        c = self.config
        pairs = pd.DataFrame({"row": rows, "column": columns, "spend": orders["spend"].to_numpy(),
                              "orders": np.exp2(-(now - orders["timestamp"].to_numpy()) / (c.half_life_days * DAY))})
        pairs = pairs.groupby(["row", "column"], as_index=False).sum()
        rebuy = _rebuy_rate(orders, columns, now - c.rebuy_window_days * DAY, len(self.item_ids))
        column = pairs["column"].to_numpy()
        score = pairs["orders"] * (1.0 + pairs["spend"]) ** c.spend_exponent * rebuy[column] ** c.rebuy_exponent
        return sp.csr_matrix((score.to_numpy(), (pairs["row"].to_numpy(), column)),
                             shape=(len(self._users), len(self.item_ids)))

    def _neighbour_products(self, rows, columns) -> sp.csr_matrix:
        """Per user: the similarity-weighted mean of their k nearest shoppers' bought sets."""
        shape = (len(self._users), len(self.item_ids))
        bought = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=shape)
        bought.data[:] = 1.0
        idf = np.log1p(shape[0] / np.maximum(np.asarray(bought.sum(axis=0)).ravel(), 1.0))  # > 0: rare counts more
        weighted = _row_normalised(bought @ sp.diags(idf))
        nearest = _nearest(weighted, self.config.neighbours)
        totals = np.asarray(nearest.sum(axis=1)).ravel()
        return sp.diags(1.0 / np.maximum(totals, 1e-12)) @ nearest @ bought

    def scores(self, user_ids, ids: np.ndarray) -> np.ndarray:
        """(users, candidates) repurchase score of each candidate product id (-1 = none: 0)."""
        rows = self._users.get_indexer([str(u) for u in user_ids])
        columns = self._items.get_indexer(ids.ravel()).reshape(ids.shape)
        out = np.zeros(ids.shape)
        for row, (user, cols) in enumerate(zip(rows, columns)):
            known = cols >= 0
            if user >= 0 and known.any():
                out[row, known] = self.mix[user, cols[known]].toarray().ravel()
        return out

    def strongest(self, user_id, k: int) -> np.ndarray:
        """Ids of the user's k products with the highest repurchase score (fewer when fewer have one)."""
        user = self._users.get_indexer([str(user_id)])[0]
        if user < 0 or k <= 0:
            return np.zeros(0, dtype=np.int64)
        start, end = self.mix.indptr[user], self.mix.indptr[user + 1]
        order = np.argsort(-self.mix.data[start:end], kind="stable")[:k]
        return self.item_ids[self.mix.indices[start:end][order]]

    def _mixed(self) -> sp.csr_matrix:
        """Each user's own re-orders plus their neighbours' products (by novelty), times each product's demand."""
        weights = sp.diags(self.config.neighbour_weight * self.novelty)
        return sp.csr_matrix((self.own + weights @ self.neighbours) @ sp.diags(self.demand))

    # ---- persistence ------------------------------------------------------------------------

def _rebuy_rate(orders: pd.DataFrame, columns, cut: float, n_items: int) -> np.ndarray:
    """Per product: re-buyers in [cut, end) among its earlier buyers who ordered anything then, relative to
    the store's rate; products without such buyers get the store's rate (1)."""
    late = orders["timestamp"].to_numpy() >= cut
    active = pd.Index(pd.unique(orders["user_id"][late]))
    pairs = pd.DataFrame({"user": orders["user_id"].to_numpy(), "column": columns})
    earlier = pairs[~late & pairs["user"].isin(active).to_numpy()].drop_duplicates()
    again = earlier.merge(pairs[late].drop_duplicates().assign(again=1.0), on=["user", "column"], how="left")
    if not len(again):
        return np.ones(n_items)
    store_rate = max(float(again["again"].fillna(0.0).mean()), 1e-6)
    rebought = np.bincount(again["column"], again["again"].fillna(0.0), minlength=n_items)
    buyers = np.bincount(again["column"], minlength=n_items)
    return (rebought + store_rate * REBUY_PRIOR_SHOPPERS) / (buyers + REBUY_PRIOR_SHOPPERS) / store_rate


def _novelty(orders: pd.DataFrame, rows: np.ndarray, n_users: int) -> np.ndarray:
    """Per user: share of first-time products in the orders after their first, relative to the store's."""
    first_of_pair = orders.groupby(["user_id", "item_id"])["timestamp"].transform("min").to_numpy()
    first_of_user = orders.groupby("user_id")["timestamp"].transform("min").to_numpy()
    later = orders["timestamp"].to_numpy() > first_of_user
    new = np.bincount(rows[later], (orders["timestamp"].to_numpy() == first_of_pair)[later], minlength=n_users)
    lines = np.bincount(rows[later], minlength=n_users)
    store = new.sum() / lines.sum() if lines.sum() else 1.0
    return (new + store * NOVELTY_PRIOR_ORDERS) / (lines + NOVELTY_PRIOR_ORDERS) / max(store, 1e-6)


def _demand(orders: pd.DataFrame, columns, now: float, half_life_days: float, n_items: int) -> np.ndarray:
    decayed = np.exp2(-(now - orders["timestamp"].to_numpy()) / (half_life_days * DAY))
    demand = np.bincount(columns, decayed, minlength=n_items)
    return demand / max(demand.max(), 1e-12)


def _row_scaled(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its largest entry (rows of zeros stay zero)."""
    matrix = matrix.tocsr()
    top = np.asarray(matrix.max(axis=1).todense()).ravel()
    return (sp.diags(1.0 / np.where(top > 0, top, 1.0)) @ matrix).tocsr()


def _row_normalised(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return (sp.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix).tocsr()


def _nearest(vectors: sp.csr_matrix, k: int, chunk: int = 2048) -> sp.csr_matrix:
    """(users, users): each user's k most similar others (dot products of the rows), chunk by chunk so the
    full users x users product is never held."""
    parts = []
    for start in range(0, vectors.shape[0], chunk):
        similarity = (vectors[start:start + chunk] @ vectors.T).tocsr()
        similarity.setdiag(0, k=start)  # a user is not their own neighbour
        similarity.eliminate_zeros()
        parts.append(_top_k_per_row(similarity, k))
    return sp.vstack(parts).tocsr() if parts else sp.csr_matrix((0, vectors.shape[0]))


def _top_k_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's k largest entries: rank within a row by sorting on (row, -value) once."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = np.lexsort((-matrix.data, rows))
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    keep = order[rank < k]
    return sp.csr_matrix((matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape)


def _csr_arrays(name: str, matrix: sp.csr_matrix) -> dict:
    return {f"{name}_data": matrix.data, f"{name}_indices": matrix.indices, f"{name}_indptr": matrix.indptr}


def _csr_from(name: str, saved, shape) -> sp.csr_matrix:
    return sp.csr_matrix((saved[f"{name}_data"], saved[f"{name}_indices"], saved[f"{name}_indptr"]), shape=shape)
