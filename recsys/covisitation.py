"""Item co-visitation: what shoppers who interacted with one product also interacted with.

A basket is one shopper's positive events in one session (or all of a shopper's events, with
`scope="user"`, or when events carry no session). Within each basket every product counts
once, with its strongest event weight (a purchase outweighs the view before it). Then

    C[a, b] = sum over baskets holding a and b (a != b) of weight(a) * weight(b)
    P(b | a) = C[a, b] / sum_b' C[a, b']

and a shopper whose past products j carry (decayed) weights w_j is pulled towards b by
sum_j w_j P(b | j) / sum_j w_j. Unlike similarity in the image space this knows what people
do, not what products look like: the popular products of the same mission, the same gender,
the same occasion, learned from behaviour.

Learned in bulk from an event log (`fit`); a shopper's own new events change their pull at
once (it reads their current history), while the product-to-product table itself only changes
at the next `fit` (like the popularity prior). Products added later simply have no co-visits.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.errors import TailorcardError
from features.events import NO_ITEM
from features.preferences import event_type_weights

SCOPES = ("session", "user")


class CoVisitationError(TailorcardError):
    """A co-visitation table asked for something it cannot give."""


class CoVisitation:
    """Row-normalised product x product co-visitation probabilities, by product id."""

    def __init__(self, item_ids=(), matrix: sp.csr_matrix | None = None):
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self._index = pd.Index(self.item_ids)
        n = len(self.item_ids)
        self.matrix = sp.csr_matrix((n, n)) if matrix is None else matrix.tocsr()
        if self.matrix.shape != (n, n):
            raise CoVisitationError(f"matrix of shape {self.matrix.shape} for {n} products; expected ({n}, {n})")

    @classmethod
    def from_events(cls, item_ids, events: pd.DataFrame, event_weights: dict, scope: str = "session",
                    max_basket: int = 50) -> "CoVisitation":
        """Learn from validated events; baskets larger than max_basket keep their strongest products."""
        if scope not in SCOPES:
            raise CoVisitationError(f"scope must be one of {SCOPES}; got {scope!r}")
        covisitation = cls(item_ids)
        baskets = covisitation._baskets(events, event_weights, scope, max_basket)
        counts = (baskets.T @ baskets).tocsr()
        counts.setdiag(0)
        counts.eliminate_zeros()
        totals = np.asarray(counts.sum(axis=1)).ravel()
        covisitation.matrix = (sp.diags(1.0 / np.maximum(totals, 1e-12)) @ counts).tocsr()
        return covisitation

    def _baskets(self, events: pd.DataFrame, event_weights: dict, scope: str, max_basket: int) -> sp.csr_matrix:
        """(baskets, products) strongest positive event weight of each product in each basket."""
        weight = event_type_weights(events["type"], event_weights)
        columns = self._index.get_indexer(events["item_id"].to_numpy(dtype=np.int64))
        keep = (events["item_id"].to_numpy() != NO_ITEM) & (weight > 0) & (columns >= 0)
        user = events["user_id"].astype(str).to_numpy()[keep]
        session = events["session_id"].astype(str).to_numpy()[keep] if "session_id" in events and scope == "session" \
            else np.full(int(keep.sum()), "")
        frame = pd.DataFrame({"basket": pd.factorize(pd.Series(user) + "\x1f" + pd.Series(session))[0],
                              "column": columns[keep], "weight": weight[keep]})
        frame = frame.groupby(["basket", "column"], as_index=False)["weight"].max()
        frame = frame.sort_values(["basket", "weight"], ascending=[True, False], kind="stable")
        frame = frame[frame.groupby("basket").cumcount() < max_basket]
        shape = (int(frame["basket"].max()) + 1 if len(frame) else 0, len(self.item_ids))
        return sp.csr_matrix((frame["weight"].to_numpy(), (frame["basket"].to_numpy(), frame["column"].to_numpy())),
                             shape=shape)

    def pull(self, source_ids, source_weights) -> sp.csr_matrix:
        """(1, products) sum_j w_j P(. | j) / sum_j w_j over the positive sources that are known products."""
        columns = self._index.get_indexer(np.asarray(source_ids, dtype=np.int64))
        weights = np.asarray(source_weights, dtype=float)
        keep = (columns >= 0) & (weights > 0)
        if not keep.any():
            return sp.csr_matrix((1, len(self.item_ids)))
        mix = sp.csr_matrix((weights[keep] / weights[keep].sum(), (np.zeros(int(keep.sum()), int), columns[keep])),
                            shape=(1, len(self.item_ids)))
        return (mix @ self.matrix).tocsr()

    def scores_of(self, pull: sp.csr_matrix, item_ids) -> np.ndarray:
        """The pull at given product ids (0 for products without co-visits, -1 ids included)."""
        dense = np.zeros(len(self.item_ids) + 1)
        dense[pull.indices] = pull.data
        columns = self._index.get_indexer(np.asarray(item_ids, dtype=np.int64))
        return dense[np.where(columns >= 0, columns, len(self.item_ids))]

    def strongest(self, pull: sp.csr_matrix, k: int) -> np.ndarray:
        """Ids of the k products pulled hardest (fewer when fewer have any pull)."""
        top = np.argsort(-pull.data, kind="stable")[:k]
        return self.item_ids[pull.indices[top]]

