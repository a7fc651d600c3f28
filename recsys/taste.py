"""How strongly a user's history pulls each candidate product.

pull[j, i] = weight_j * kernel(source_j . item_i). With the linear kernel the total pull is the
cosine with the user's taste vector (up to its norm). With the exponential kernel
exp((s - 1) / temperature), a product close to *one* past product is pulled hard even when the
user's other interests lie elsewhere: a shopper of shoes and watches is not averaged into
something in between.
"""
from __future__ import annotations

import numpy as np


def pull_matrix(weights: np.ndarray, source_vectors: np.ndarray, item_vectors: np.ndarray,
                temperature: float | None) -> np.ndarray:
    """(sources, items) pulls; temperature None = linear kernel."""
    similarity = source_vectors @ item_vectors.T
    kernel = similarity if temperature is None else np.exp((similarity - 1.0) / temperature)
    return weights[:, None] * kernel


def taste_similarity(weights: np.ndarray, source_vectors: np.ndarray, item_vectors: np.ndarray,
                     temperature: float) -> np.ndarray:
    """Total pull per item, scaled so that a product identical to all positive history scores 1."""
    positive = np.maximum(weights, 0).sum()
    if positive <= 0:
        return np.zeros(len(item_vectors))
    return pull_matrix(weights, source_vectors, item_vectors, temperature).sum(axis=0) / positive
