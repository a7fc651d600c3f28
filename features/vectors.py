"""Small helpers for rows of embedding vectors."""
from __future__ import annotations

import numpy as np

ZERO_NORM = 1e-12  # a row shorter than this has no direction worth trusting


def unit_rows(vectors, dtype=np.float64, allow_zero: bool = False) -> np.ndarray:
    """Rows of `vectors` scaled to unit length: a C-contiguous [n, d] array of `dtype` (a [d] vector is one row).

    A zero row has no direction, so it is an error; with allow_zero it stays zero (norms are floored at
    ZERO_NORM) for callers that treat an empty taste as 'no taste'. The norm is taken in `dtype`, after
    making the rows contiguous (faiss needs that; the rounding of the norm depends on the layout).
    """
    vectors = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=dtype)))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if allow_zero:
        return vectors / np.maximum(norms, ZERO_NORM)
    if np.any(norms < ZERO_NORM):
        raise ValueError(f"cannot normalise a zero vector (rows {np.flatnonzero(norms[:, 0] < ZERO_NORM).tolist()})")
    return vectors / norms
