"""A web worker's own cache of rankings, in front of the database's `card_cache`.

Keyed by the stamp the database gives (the shopper's latest event, the catalogue's latest change),
so an entry is never stale: an event or product change through any worker makes a new stamp and
the old entry simply stops being asked for (and ages out). A hit costs the cards request one small
indexed query (the stamp) instead of fetching and decoding the stored JSON payload.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

DEFAULT_SIZE = 4096  # the busiest shoppers; a ranking of 12 cards is a few KB in JSON, tens of KB as objects


class RankingCache:
    """Least-recently-used map (user_id, n, stamp) -> ranking; thread-safe (gthread workers)."""

    def __init__(self, size: int = DEFAULT_SIZE):
        if size < 0:
            raise ValueError(f"size must be >= 0 (0 turns the cache off); got {size}")
        self.size = size
        self._entries: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str, n: int, stamp: str) -> dict | None:
        with self._lock:
            ranking = self._entries.get((user_id, n, stamp))
            if ranking is not None:
                self._entries.move_to_end((user_id, n, stamp))
            return ranking

    def put(self, user_id: str, n: int, stamp: str, ranking: dict) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._entries[(user_id, n, stamp)] = ranking
            self._entries.move_to_end((user_id, n, stamp))
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
