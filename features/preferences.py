"""Shopper preference vectors in the product embedding space.

A user's vector is the normalised sum over their events of

    weight(type) * 2 ** (-(t_ref - t) / half_life) * vector(source)

where the source is the product (its CLIP image vector) or the search query (its CLIP text
vector), and negative weights (dislike, return) push the vector away. Per user we keep the
*un-normalised* sum at a reference time t_ref (the user's latest event), so the order events
arrive in does not matter. Builds are one sparse (users x sources) matrix product; there is no
loop per event. The same build over some users' events alone (`rebuild_users`: how the service
takes new events) refreshes just those users, for a cost that grows with their events, not with
the whole log.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.checks import check_fields, number
from features.errors import EmbeddingSpaceMismatch, TailorcardError
from features.events import EVENT_TYPES, NO_ITEM
from features.sparse_rows import SparseRows

DEFAULT_WEIGHTS = {"view": 1.0, "click": 2.0, "add_to_cart": 4.0, "purchase": 6.0, "like": 5.0,
                   "dislike": -4.0, "return": -6.0}
DAY = 86_400.0
TextEncoder = Callable[[list[str]], np.ndarray]


class PreferenceError(TailorcardError):
    """Events that cannot become preferences (unknown product, query without a text encoder, ...)."""


@dataclass
class PreferenceConfig:
    half_life_days: float = 30.0
    event_weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    query_weight: float = 2.0

    def check_inputs(self) -> None:
        weights = self.event_weights if isinstance(self.event_weights, dict) else {}
        check_fields(self, PreferenceError, (
            ("half_life_days", number(self.half_life_days, 0, above=True), "a number > 0"),
            ("query_weight", number(self.query_weight), "a finite number"),
            ("event_weights", isinstance(self.event_weights, dict) and set(weights) == set(DEFAULT_WEIGHTS)
             and all(number(w) for w in weights.values()),
             f"a finite number for each of {list(DEFAULT_WEIGHTS)}, and nothing else"),
        ))

    def decay(self, age_seconds) -> np.ndarray:
        return half_life_decay(age_seconds, self.half_life_days)


def event_type_weights(types, weights: dict) -> np.ndarray:
    """float64 weight of each event type (an array or Series).

    A valid type (EVENT_TYPES) that `weights` leaves out weighs 0: it counts for nothing, as it always
    did in the models that keep only positive weights. Any other type, in `types` or as a key of
    `weights` (a misspelt "add-to-cart" would silently weigh add_to_cart 0), is an error, never a NaN.
    """
    misspelt = sorted(set(weights) - set(EVENT_TYPES))
    if misspelt:
        raise PreferenceError(f"event weights for unknown type(s) {misspelt}; expected keys among {list(EVENT_TYPES)}")
    table = {**dict.fromkeys(EVENT_TYPES, 0.0), **weights}
    codes, seen = pd.factorize(np.asarray(types, dtype=object))  # a handful of distinct types: look each up once
    unknown = sorted(str(t) for t in seen if t not in table)
    if unknown:
        raise PreferenceError(f"unknown event type(s) {unknown}; expected {list(table)}")
    return np.array([table[t] for t in seen], dtype=np.float64)[codes] if len(seen) else np.zeros(0)


def half_life_decay(age_seconds, half_life_days: float) -> np.ndarray:
    """2 ** (-age / half-life): 1 for now, 1/2 one half-life ago."""
    return np.exp2(-np.asarray(age_seconds, dtype=np.float64) / (half_life_days * DAY))


class _Sources:
    """What events point at: products (by id) and search queries (by text), each with a vector."""

    def __init__(self, dim: int):
        self.item_ids = np.zeros(0, dtype=np.int64)  # NO_ITEM for a query row
        self.queries = np.zeros(0, dtype=object)  # "" for a product row
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self._row_of_query: dict[str, int] = {}
        self._item_lookup: tuple[pd.Index, np.ndarray] | None = None  # (product ids, their rows), built lazily

    def __len__(self) -> int:
        return len(self.item_ids)

    def _append(self, item_ids, queries, vectors) -> None:
        start = len(self)
        self.item_ids = np.concatenate([self.item_ids, np.asarray(item_ids, dtype=np.int64)])
        self.queries = np.concatenate([self.queries, np.asarray(queries, dtype=object)])
        self.vectors = np.concatenate([self.vectors, np.asarray(vectors, dtype=np.float32)])
        self._row_of_query.update((str(self.queries[r]), r) for r in range(start, len(self)) if self.item_ids[r] == NO_ITEM)
        self._item_lookup = None

    def _lookup(self, item_ids) -> np.ndarray:
        """Row of each product id, -1 where unknown."""
        if self._item_lookup is None:
            rows = np.flatnonzero(self.item_ids != NO_ITEM)
            self._item_lookup = (pd.Index(self.item_ids[rows]), rows)
        index, rows = self._item_lookup
        found = index.get_indexer(np.asarray(item_ids, dtype=np.int64))
        return np.where(found >= 0, rows[np.maximum(found, 0)] if len(rows) else -1, -1)

    def set_items(self, item_ids, vectors) -> None:
        """Add products, or give known ones a new vector (used for events from now on)."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        vectors = _check_vectors(vectors, self.vectors.shape[1], "item vectors")
        rows = self._lookup(item_ids)
        self.vectors[rows[rows >= 0]] = vectors[rows >= 0]
        self._append(item_ids[rows < 0], [""] * int((rows < 0).sum()), vectors[rows < 0])

    def item_rows(self, item_ids) -> np.ndarray:
        """Rows of products; raises naming the products that have no vector."""
        rows = self._lookup(item_ids)
        if (rows < 0).any():
            missing = np.unique(np.asarray(item_ids)[rows < 0])
            raise PreferenceError(f"no vector for product(s) {missing[:10].tolist()}"
                                  f"{' ...' if len(missing) > 10 else ''}; add them with set_items first")
        return rows

    def query_rows(self, texts, encode_texts: TextEncoder | None) -> np.ndarray:
        """Rows of queries; unseen texts are encoded once, in one batch."""
        texts = [str(t) for t in texts]
        new = sorted({t for t in texts if t not in self._row_of_query})
        if new:
            if encode_texts is None:
                raise PreferenceError(f"{len(new)} search query event(s) (e.g. {new[0]!r}) but no text encoder "
                                      "was given; pass encode_texts to build query vectors")
            vectors = _check_vectors(encode_texts(new), self.vectors.shape[1], "query vectors")
            self._append([NO_ITEM] * len(new), new, vectors)
        return np.array([self._row_of_query[t] for t in texts], dtype=np.int64)


def _check_vectors(vectors, dim: int, what: str) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise EmbeddingSpaceMismatch(f"{what} have shape {vectors.shape}; expected (n, {dim})")
    return vectors


@dataclass
class _BuiltUsers:
    """Some users' state built in bulk from their events (rows in `user_ids` order)."""
    user_ids: list[str]
    sums: np.ndarray
    ref_time: np.ndarray
    n_events: np.ndarray
    history: sp.csr_matrix
    bought: sp.csr_matrix
    event_ids: set[str]


class PreferenceStore:
    """Per-user decayed sums in the embedding space, their history, and what they bought."""

    def __init__(self, item_ids, item_vectors, encode_texts: TextEncoder | None = None,
                 config: PreferenceConfig | None = None):
        self.config = config or PreferenceConfig()
        self.config.check_inputs()
        item_vectors = np.asarray(item_vectors, dtype=np.float32)
        self.sources = _Sources(item_vectors.shape[1])
        self.sources.set_items(item_ids, item_vectors)
        self.encode_texts = encode_texts
        self._reset_users()

    def _reset_users(self) -> None:
        self.user_ids: list[str] = []
        self._row_of_user: dict[str, int] = {}
        self.sums = np.zeros((0, self.dim), dtype=np.float64)
        self.ref_time = np.zeros(0, dtype=np.float64)
        self.n_events = np.zeros(0, dtype=np.int64)
        self.history = SparseRows()  # users x sources, decayed weights at ref_time (for explanations)
        self.bought = SparseRows()  # users x sources, purchase counts
        self.seen_event_ids: set[str] = set()

    @property
    def dim(self) -> int:
        return self.sources.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.user_ids)

    def __contains__(self, user_id) -> bool:
        return str(user_id) in self._row_of_user

    # ---- building ---------------------------------------------------------------------------

    def rebuild(self, events: pd.DataFrame) -> "PreferenceStore":
        """Forget all users and build them from validated events (see features.events) in bulk."""
        built = self._build_users(events)
        self.user_ids, self._row_of_user = built.user_ids, {u: i for i, u in enumerate(built.user_ids)}
        self.sums, self.ref_time, self.n_events = built.sums, built.ref_time, built.n_events
        self.history, self.bought = SparseRows(built.history), SparseRows(built.bought)
        self.seen_event_ids = built.event_ids
        return self

    def rebuild_users(self, events: pd.DataFrame) -> "PreferenceStore":
        """Rebuild only the users in `events`, which must hold *all* their events (any order): each gets
        exactly what `rebuild` over the whole log would give them; other users are untouched. Work grows
        with these users' events, not with the log. Event ids are assumed unique across users (as the
        database keeps them), so the users' earlier event ids stay a subset of the new ones."""
        built = self._build_users(events)  # first, so an invalid event changes nothing
        rows = [self._user_row(u) for u in built.user_ids]
        self.sums[rows], self.ref_time[rows], self.n_events[rows] = built.sums, built.ref_time, built.n_events
        for built_row, row in enumerate(rows):
            _replace_row(self.history, row, built.history, built_row)
            _replace_row(self.bought, row, built.bought, built_row)
        self.seen_event_ids |= built.event_ids
        return self

    def _build_users(self, events: pd.DataFrame) -> "_BuiltUsers":
        """The users in `events` built from those events alone, vectorised: one sparse matrix product."""
        events = _plain_columns(events)
        first = ~pd.Series(events["event_id"], dtype=object).duplicated().to_numpy()  # object: no Arrow round trip
        events = {name: column[first] for name, column in events.items()}
        users, user_ids = pd.factorize(events["user_id"])
        times = events["timestamp"]
        ref_time = np.full(len(user_ids), -np.inf)
        np.maximum.at(ref_time, users, times)
        rows, cols, weights, event_index = self._contributions(events, users)
        decayed = weights * self.config.decay(ref_time[rows] - times[event_index])
        shape = (len(user_ids), len(self.sources))
        history = SparseRows.from_entries(rows, cols, decayed, shape).to_csr(shape[1])
        purchase = (events["type"] == "purchase") & (events["item_id"] != NO_ITEM)
        bought = SparseRows.from_entries(users[purchase], self.sources.item_rows(events["item_id"][purchase]),
                                         np.ones(int(purchase.sum())), shape).to_csr(shape[1])
        return _BuiltUsers(user_ids=user_ids.tolist(), ref_time=ref_time,
                           sums=np.asarray(history @ self.sources.vectors.astype(np.float64)),
                           n_events=np.bincount(users, minlength=len(user_ids)).astype(np.int64),
                           history=history, bought=bought, event_ids=set(events["event_id"].tolist()))

    def _contributions(self, events: dict, users: np.ndarray):
        """(user row, source row, weight, event index) per contribution: one per product, one per query."""
        weights = event_type_weights(events["type"], self.config.event_weights)
        item_ids, queries = events["item_id"], events["query"]
        has_item, has_query = item_ids != NO_ITEM, queries != ""
        rows = np.concatenate([users[has_item], users[has_query]])
        cols = np.concatenate([self.sources.item_rows(item_ids[has_item]),
                               self.sources.query_rows(queries[has_query], self.encode_texts)])
        values = np.concatenate([weights[has_item], np.full(int(has_query.sum()), self.config.query_weight)])
        return rows, cols, values, np.concatenate([np.flatnonzero(has_item), np.flatnonzero(has_query)])

    def _user_row(self, user_id: str) -> int:
        row = self._row_of_user.get(user_id)
        if row is None:
            row = self._row_of_user[user_id] = len(self.user_ids)
            self.user_ids.append(user_id)
            if row >= len(self.sums):  # grow by doubling, so adding users one by one stays cheap
                extra = max(len(self.sums), 16)
                self.sums = np.vstack([self.sums, np.zeros((extra, self.dim))])
                self.ref_time = np.append(self.ref_time, np.full(extra, -np.inf))
                self.n_events = np.append(self.n_events, np.zeros(extra, dtype=np.int64))
        return row

    # ---- reading ----------------------------------------------------------------------------

    def decayed_sums(self, user_ids) -> np.ndarray:
        """The un-normalised sums (n, dim) as of each user's latest event; zeros for unknown users."""
        rows = np.array([self._row_of_user.get(str(u), -1) for u in user_ids], dtype=np.int64)
        sums = np.zeros((len(rows), self.dim))
        sums[rows >= 0] = self.sums[rows[rows >= 0]]
        return sums

    def vectors(self, user_ids, fallback: np.ndarray | None = None) -> np.ndarray:
        """Unit vectors (n, dim) float32; users without a usable vector get `fallback` (or zeros)."""
        sums = self.decayed_sums(user_ids)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        usable = norms[:, 0] > 1e-12
        out = np.zeros((len(sums), self.dim), dtype=np.float32)
        out[usable] = (sums[usable] / norms[usable]).astype(np.float32)
        if fallback is not None:
            out[~usable] = np.asarray(fallback, dtype=np.float32)
        return out

    def vector(self, user_id, fallback: np.ndarray | None = None) -> np.ndarray:
        return self.vectors([user_id], fallback)[0]

    def has_vector(self, user_id) -> bool:
        return bool(np.any(self.vectors([user_id])))

    def event_count(self, user_id) -> int:
        row = self._row_of_user.get(str(user_id))
        return 0 if row is None else int(self.n_events[row])

    def bought_items(self, user_id) -> np.ndarray:
        row = self._row_of_user.get(str(user_id))
        return np.zeros(0, np.int64) if row is None else self.sources.item_ids[self.bought.row(row)[0]]

    def contributions(self, user_id) -> pd.DataFrame:
        """The user's sources with their decayed weights: item_id (-1 for a query), query, weight, vector row."""
        row = self._row_of_user.get(str(user_id))
        cols, weights = (np.zeros(0, np.int64), np.zeros(0)) if row is None else self.history.row(row)
        return pd.DataFrame({"item_id": self.sources.item_ids[cols], "query": self.sources.queries[cols],
                             "weight": weights, "source_row": cols})

    def set_items(self, item_ids, vectors) -> None:
        self.sources.set_items(item_ids, vectors)

    # ---- persistence ------------------------------------------------------------------------

def _replace_row(rows: SparseRows, row: int, built: sp.csr_matrix, built_row: int) -> None:
    """Make `row` hold exactly `built`'s row: an edit in the overlay (features.sparse_rows), O(row)."""
    start, end = built.indptr[built_row], built.indptr[built_row + 1]
    rows.replace(row, built.indices[start:end], built.data[start:end])


def _plain_columns(events: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns as numpy arrays: text as object arrays, which hash several times faster than Arrow strings."""
    n = len(events)
    text = {c: _as_text(events[c]) if c in events else np.full(n, "", dtype=object)
            for c in ("event_id", "user_id", "type", "query")}
    return {**text, "item_id": events["item_id"].to_numpy(dtype=np.int64),
            "timestamp": events["timestamp"].to_numpy(dtype=np.float64)}


def _as_text(column: pd.Series) -> np.ndarray:
    """Ids are text everywhere else (recommend() asks by str(user)): numbers become their text."""
    if column.dtype.kind in "iuf":
        column = column.astype(str)
    return column.to_numpy(dtype=object, na_value="")


def _csr_arrays(name: str, matrix, n_rows: int) -> dict:
    matrix = matrix.tocsr()
    indptr = np.concatenate([matrix.indptr, np.full(n_rows + 1 - len(matrix.indptr), matrix.indptr[-1])])
    return {f"{name}_data": matrix.data, f"{name}_indices": matrix.indices, f"{name}_indptr": indptr}


def _csr_from(name: str, saved, n_cols: int):
    indptr = saved[f"{name}_indptr"]
    return sp.csr_matrix((saved[f"{name}_data"], saved[f"{name}_indices"], indptr), shape=(len(indptr) - 1, n_cols))
