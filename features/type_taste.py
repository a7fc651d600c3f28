"""A taste as it looks within one article type, and a product as it would look in another colour.

A taste vector in CLIP space mixes everything a shopper browses (shirts, shoes, watches), so
redrawing a shirt toward it pulls the shirt toward shoes. The products of the shirt's own type
that lie nearest a vector carry what it says about shirts without the pull across types; their
mean is a condition a variant of the shirt can be drawn toward. Variants use it with the
product's own vector among its type's products of the shopper's colour (`taste_in_colour`).
"""
from __future__ import annotations

import numpy as np

from features.errors import TailorcardError

TYPE_NEIGHBOURS = 10  # products averaged: enough to smooth one odd photo, few enough to stay specific


def taste_within_type(taste, type_vectors, k: int = TYPE_NEIGHBOURS) -> np.ndarray:
    """Unit mean of the k rows of `type_vectors` (unit vectors of one type's products) nearest `taste`.

    With no products of the type the taste itself is returned (there is nothing narrower to say).
    """
    taste = np.asarray(taste, dtype=np.float32).reshape(-1)
    vectors = np.asarray(type_vectors, dtype=np.float32)
    if k < 1:
        raise TailorcardError(f"k must be at least 1; got {k}")
    if vectors.size == 0:
        return taste / np.linalg.norm(taste)
    if vectors.ndim != 2 or vectors.shape[1] != taste.shape[0]:
        raise TailorcardError(f"type vectors must be [n, {taste.shape[0]}] like the taste; got {vectors.shape}")
    nearest = np.argsort(-(vectors @ taste), kind="stable")[:k]
    mean = vectors[nearest].mean(axis=0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


def taste_in_colour(product_vector, product_type, colour, types, colours, vectors,
                    k: int = TYPE_NEIGHBOURS) -> np.ndarray | None:
    """A product as it would look in `colour`: `taste_within_type` of the product's own vector among the
    catalogue products of its type in that colour (rows of `vectors`, with their `types` and `colours`).

    Drawing toward these neighbours rather than toward a segment's centroid changes the colour while
    keeping the product's cut. None when the catalogue has no product of that type in that colour.
    """
    same = (np.asarray(types, dtype=object) == product_type) & (np.asarray(colours, dtype=object) == colour)
    if not same.any():
        return None
    return taste_within_type(product_vector, np.asarray(vectors)[same], k)
