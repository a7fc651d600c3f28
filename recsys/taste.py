"""How strongly a user's history pulls each candidate product.

pull[j, i] = weight_j * kernel(source_j . item_i). With the linear kernel the total pull is the
cosine with the user's taste vector (up to its norm). With the exponential kernel
exp(s / temperature), a product close to *one* past product is pulled hard even when the
user's other interests lie elsewhere: a shopper of shoes and watches is not averaged into
something in between.
"""
from __future__ import annotations

import numpy as np


def pulls_of(weights: np.ndarray, similarity: np.ndarray, temperature: float | None) -> np.ndarray:
    """(sources, items) pulls from the sources' cosines with the items; temperature None = linear kernel."""
    kernel = similarity if temperature is None else np.exp((similarity - 1.0) / temperature)
    return weights[:, None] * kernel


def taste_similarity(weights: np.ndarray, source_vectors: np.ndarray, item_vectors: np.ndarray,
                     temperature: float) -> np.ndarray:
    """Soft maximum over the positive history of each item's cosine with a past source:

        temperature * log( sum_j w_j exp(s_ij / temperature) / sum_j w_j )

    In cosine units (so it adds to a popularity prior like a cosine does): near the best single
    match for a small temperature, near the weighted mean cosine for a large one. Negative
    sources (dislikes, returns) already moved the taste vector; here only positive pull counts.
    """
    positive = np.maximum(weights, 0)
    if positive.sum() <= 0:
        return np.zeros(len(item_vectors))
    similarity = source_vectors[positive > 0] @ item_vectors.T
    best = similarity.max(axis=0)  # subtracted before exp for numerical safety
    pooled = (positive[positive > 0, None] * np.exp((similarity - best) / temperature)).sum(axis=0)
    return best + temperature * np.log(pooled / positive.sum())
