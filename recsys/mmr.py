"""Maximal marginal relevance: pick, one at a time, what is relevant and unlike what was picked."""
from __future__ import annotations

import numpy as np


def mmr_order(scores: np.ndarray, vectors: np.ndarray, n: int, relevance: float) -> np.ndarray:
    """Positions of n picks per row (-1 where candidates run out), batched over rows.

    Each pick maximises relevance * score - (1 - relevance) * (highest cosine to an earlier pick).
    scores: (rows, candidates), -inf = not allowed; vectors: (rows, candidates, dim) unit rows.
    """
    rows, candidates = scores.shape
    n = min(n, candidates)
    similarity = np.einsum("rcd,rkd->rck", vectors, vectors)
    closest = np.zeros((rows, candidates))  # highest similarity to anything picked so far
    open_ = np.isfinite(scores)
    picks = np.full((rows, n), -1)
    everyone = np.arange(rows)
    for step in range(n):
        value = np.where(open_, relevance * scores - (1.0 - relevance) * closest, -np.inf)
        best = value.argmax(axis=1)
        found = open_[everyone, best]
        picks[found, step] = best[found]
        open_[everyone, best] = False
        closest = np.maximum(closest, similarity[everyone, :, best])
    return picks  # a row that runs out stays out, so its -1s are already at its end
