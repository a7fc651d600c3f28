"""What the recommender knows about each product besides its vector: popularity, stock, attributes."""
from __future__ import annotations


import numpy as np
import pandas as pd

from features.errors import TailorcardError
from features.events import NO_ITEM
from features.preferences import event_type_weights, half_life_decay


class ItemsError(TailorcardError):
    """Unknown product or misaligned product data."""


class Items:
    """Aligned arrays by product id. Popularity is a recency-weighted interaction count."""

    def __init__(self, item_ids, popularity=None, in_stock=None, attributes: pd.DataFrame | None = None):
        self.ids = np.asarray(item_ids, dtype=np.int64)
        n = len(self.ids)
        self.popularity = np.zeros(n) if popularity is None else np.asarray(popularity, dtype=np.float64)
        self.in_stock = np.ones(n, dtype=bool) if in_stock is None else np.asarray(in_stock, dtype=bool)
        if len(self.popularity) != n or len(self.in_stock) != n:
            raise ItemsError(f"{n} product ids but {len(self.popularity)} popularity and {len(self.in_stock)} "
                             "in_stock values; expected one of each per product")
        self.attributes = attributes if attributes is not None else pd.DataFrame(index=pd.Index(self.ids, name="product_id"))
        self._reindex()

    def _reindex(self) -> None:
        self._index = pd.Index(self.ids)
        if not self._index.is_unique:
            raise ItemsError(f"duplicate product ids: {self._index[self._index.duplicated()][:10].tolist()}")

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, item_ids) -> np.ndarray:
        """Positions of products, -1 for unknown ones."""
        return self._index.get_indexer(np.asarray(item_ids, dtype=np.int64))

    # Every ranking reads the prior and the popular products; both are kept until popularity changes
    # (sorting 1M products per request would cost more than the rest of the ranking).
    @property
    def popularity(self) -> np.ndarray:
        return self._popularity

    @popularity.setter
    def popularity(self, values) -> None:
        self._popularity = np.asarray(values, dtype=np.float64)
        self._by_popularity = self._prior = None

    def most_popular_rows(self, k: int) -> np.ndarray:
        """Row positions of the k most popular products, most popular first."""
        if self._by_popularity is None:
            self._by_popularity = np.argsort(-self.popularity)  # numpy's default sort, as rankings always used
        return self._by_popularity[:k]

    def prior(self) -> np.ndarray:
        """Popularity squashed to 0..1 (log scale, so a few blockbusters do not drown the rest)."""
        if self._prior is None:
            top = np.log1p(self.popularity.max()) if len(self) else 0.0
            self._prior = np.log1p(self.popularity) / top if top > 0 else np.zeros(len(self))
        return self._prior

    def set_popularity_from_events(self, events: pd.DataFrame, weights: dict, half_life_days: float) -> None:
        """Decayed sum of positive event weights per product, relative to the latest event."""
        type_weight = event_type_weights(events["type"], weights)
        positive = (events["item_id"] != NO_ITEM).to_numpy() & (type_weight > 0)
        rows = self.rows(events["item_id"].to_numpy()[positive])
        age = events["timestamp"].max() - events["timestamp"].to_numpy()[positive]
        weight = type_weight[positive] * half_life_decay(age, half_life_days)
        self.popularity = np.bincount(rows[rows >= 0], weight[rows >= 0], minlength=len(self))

    def upsert(self, item_id: int, popularity: float | None = None, in_stock: bool = True,
               attributes: dict | None = None) -> None:
        row = self.rows([item_id])[0]
        if row < 0:
            self.ids = np.append(self.ids, np.int64(item_id))
            self.popularity = np.append(self.popularity, popularity or 0.0)
            self.in_stock = np.append(self.in_stock, in_stock)
            self._reindex()
        else:
            self.in_stock[row] = in_stock
            if popularity is not None:
                updated = self.popularity.copy()
                updated[row] = popularity
                self.popularity = updated
        for column, value in (attributes or {}).items():
            self.attributes.loc[int(item_id), column] = value

    def remove(self, item_id: int) -> None:
        row = self.rows([item_id])[0]
        if row < 0:
            raise ItemsError(f"cannot remove product {item_id}: unknown")
        keep = np.arange(len(self)) != row
        self.ids, self.popularity, self.in_stock = self.ids[keep], self.popularity[keep], self.in_stock[keep]
        self.attributes = self.attributes.drop(index=int(item_id), errors="ignore")
        self._reindex()

    def set_in_stock(self, item_id: int, in_stock: bool) -> None:
        row = self.rows([item_id])[0]
        if row < 0:
            raise ItemsError(f"product {item_id} is unknown")
        self.in_stock[row] = in_stock

