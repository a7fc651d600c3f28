"""Which variants to generate next: the (product, segment) pairs shown most, first.

Plain domain code over a demand count per pair. `DemandQueue` keeps the counts in memory; a service
that keeps them in its database calls `most_demanded(counts, n)` on what it loaded.
A pair is only worth a generation once it has been asked for `min_demand` times: a product a
segment sees once is served its original photo, which is what keeps generations per card low.
"""
from __future__ import annotations

from collections import Counter
from typing import Hashable, Mapping

Pair = tuple[Hashable, Hashable]  # (product_id, segment)


def most_demanded(counts: Mapping[Pair, int], n: int, min_demand: int = 1) -> list[Pair]:
    """Up to n pairs with demand >= min_demand, most demanded first (ties: first asked first)."""
    ready = [(pair, count) for pair, count in counts.items() if count >= min_demand]
    ready.sort(key=lambda item: -item[1])  # stable: insertion order breaks ties
    return [pair for pair, _ in ready[:n]]


class DemandQueue:
    def __init__(self, min_demand: int = 1):
        self.min_demand = int(min_demand)
        self.counts: Counter[Pair] = Counter()

    def __len__(self) -> int:
        return len(self.counts)

    def request(self, product_id, segment, demand: int = 1) -> None:
        """A card wanted this pair's variant and it was not there (yet)."""
        self.counts[(product_id, segment)] += demand

    def take(self, n: int) -> list[Pair]:
        """Remove and return the next n pairs to generate."""
        pairs = most_demanded(self.counts, n, self.min_demand)
        for pair in pairs:
            del self.counts[pair]
        return pairs

    def discard(self, product_id) -> int:
        """Forget a product's pending pairs (it changed or left the catalogue); returns how many."""
        stale = [pair for pair in self.counts if pair[0] == product_id]
        for pair in stale:
            del self.counts[pair]
        return len(stale)
