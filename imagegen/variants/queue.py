"""Which variants to generate next: the (product, segment) pairs in demand now, most wanted first.

Plain domain code over a demand count per pair. `DemandQueue` keeps the counts in memory: a batch
worker `take`s the most demanded pairs; a server asks `request(...)` on each card that missed its
variant and queues a generation when it answers True. `most_demanded(counts, n)` ranks counts
kept elsewhere.

A pair is only worth a generation once its *recent* demand reaches `min_demand`: each card that
wanted the pair adds 1, and every count halves every `half_life_days`. A pair a segment sees a few
times a season never qualifies (it keeps its original photo), while one shown daily does within
days. Without the decay every pair qualifies eventually, and the long tail of a catalogue times
its segments turns into a steady trickle of generations that each serve a handful of cards
(`tailorcard bench variants` measures both policies: docs in the README). The defaults were
chosen on a simulation seed the benchmark does not report.
"""
from __future__ import annotations

from typing import Hashable, Mapping

import numpy as np

from features.preferences import half_life_decay

Pair = tuple[Hashable, Hashable]  # (product_id, segment)
MIN_DEMAND = 6.0  # cards of recent demand ...
DEMAND_HALF_LIFE_DAYS = 7.0  # ... where a card a week old counts half
SAME_CARD = 1e-3  # demand this close to the bar is at it: two cards a few seconds apart count as two
# A pair whose demand decayed below this (one card six half-lives ago) is dropped: it is far below a
# min_demand of a card or more, and forgetting it changes what later requests count by less than this.
FADED_DEMAND = 1 / 64
PRUNE_FROM_PAIRS = 1024  # fewer pairs are never worth a scan; then a scan waits until the queue has doubled


def most_demanded(counts: Mapping[Pair, float], n: int, min_demand: float = 1) -> list[Pair]:
    """Up to n pairs with demand >= min_demand, most demanded first (ties: first asked first)."""
    ready = [(pair, count) for pair, count in counts.items() if count >= min_demand]
    ready.sort(key=lambda item: -item[1])  # stable: insertion order breaks ties
    return [pair for pair, _ in ready[:n]]


class DemandQueue:
    """Decayed demand per pair. `at` is a time in seconds (event time in a simulation, time.time() live).

    A long-running server is asked for ever more pairs, so pairs whose decayed demand fell below
    FADED_DEMAND are dropped, in one scan each time the queue has doubled (amortised O(1) a request);
    without decay nothing fades and nothing is dropped. A dropped pair asked for again starts from 0
    plus its new demand, short of what it would have counted by less than FADED_DEMAND (decayed further
    since): only a pair landing that close under min_demand could tell the difference.
    """

    def __init__(self, min_demand: float = MIN_DEMAND, half_life_days: float | None = DEMAND_HALF_LIFE_DAYS):
        if min_demand <= 0 or (half_life_days is not None and half_life_days <= 0):
            raise ValueError(f"min_demand and half_life_days must be positive (half_life_days may be None: "
                             f"no decay); got min_demand={min_demand}, half_life_days={half_life_days}")
        self.min_demand, self.half_life_days = float(min_demand), half_life_days
        self._counts: dict[Pair, tuple[float, float]] = {}  # pair -> (demand, time it was counted at)
        self._prune_above = PRUNE_FROM_PAIRS

    def __len__(self) -> int:
        return len(self._counts)

    def demand(self, at: float = 0.0) -> dict[Pair, float]:
        """Every pending pair's demand as of `at`."""
        return {pair: self._decayed(count, since, at) for pair, (count, since) in self._counts.items()}

    def request(self, product_id, segment, demand: float = 1, at: float = 0.0) -> bool:
        """A card wanted this pair's variant and it was not there (yet). True: its demand reached min_demand."""
        pair = (product_id, segment)
        count, since = self._counts.get(pair, (0.0, at))
        count = self._decayed(count, since, at) + demand
        self._counts[pair] = (count, at)
        if len(self._counts) > self._prune_above:
            self._drop_faded(at)
        return count >= self.min_demand - SAME_CARD

    def forget(self, product_id, segment) -> None:
        """Drop one pair's demand (its generation was queued elsewhere)."""
        self._counts.pop((product_id, segment), None)

    def take(self, n: int, at: float = 0.0) -> list[Pair]:
        """Remove and return the next n pairs to generate (demand as of `at`)."""
        pairs = most_demanded(self.demand(at), n, self.min_demand - SAME_CARD)
        for pair in pairs:
            del self._counts[pair]
        return pairs

    def discard(self, product_id) -> int:
        """Forget a product's pending pairs (it changed or left the catalogue); returns how many."""
        stale = [pair for pair in self._counts if pair[0] == product_id]
        for pair in stale:
            del self._counts[pair]
        return len(stale)

    def _drop_faded(self, at: float) -> None:
        """Forget pairs whose demand as of `at` is below FADED_DEMAND (one vectorised scan, kept order)."""
        if self.half_life_days is not None:
            counts, since = np.array(list(self._counts.values())).T
            demand = counts * half_life_decay(np.maximum(at - since, 0.0), self.half_life_days)
            self._counts = {pair: entry for (pair, entry), alive in zip(self._counts.items(), demand >= FADED_DEMAND)
                            if alive}
        self._prune_above = max(2 * len(self._counts), PRUNE_FROM_PAIRS)

    def _decayed(self, count: float, since: float, at: float) -> float:
        if self.half_life_days is None:
            return count
        return count * float(half_life_decay(max(at - since, 0.0), self.half_life_days))
