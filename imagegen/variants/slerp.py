"""Spherical interpolation between unit vectors: the path a CLIP embedding takes from one meaning to another.

A straight line between two unit vectors cuts through the sphere (its midpoint has norm < 1, an
embedding no photo has); slerp stays on it, so every mix is a plausible condition for the generator.
"""
from __future__ import annotations

import numpy as np

from features.vectors import unit_rows  # float64, zero rows refused

PARALLEL = 1e-6  # below this angle (radians) slerp and a normalised lerp agree


def slerp(start, end, weight) -> np.ndarray:
    """Unit vectors `weight` of the way from `start` to `end` along the sphere (0 = start, 1 = end).

    `start` and `end` are [d] or [n, d] (broadcast against each other); `weight` a scalar or [n].
    """
    a, b = np.broadcast_arrays(unit_rows(start), unit_rows(end))
    w = np.asarray(weight, dtype=np.float64).reshape(-1, 1)
    if np.any((w < 0) | (w > 1)):
        raise ValueError(f"slerp weight must be in [0, 1]; got {np.asarray(weight).tolist()}")
    angle = np.arccos(np.clip(np.sum(a * b, axis=1, keepdims=True), -1.0, 1.0))
    sin = np.sin(angle)
    near = angle < PARALLEL
    safe_sin = np.where(near, 1.0, sin)
    mixed = np.where(near, (1 - w) * a + w * b,
                     (np.sin((1 - w) * angle) * a + np.sin(w * angle) * b) / safe_sin)
    return unit_rows(mixed).astype(np.float32)
