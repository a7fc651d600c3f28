"""Frechet distance between two sets of embeddings, each summarised as a Gaussian (as FID, in CLIP space)."""
from __future__ import annotations

import numpy as np


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) for row-sample matrices a [n, d] and b [m, d]."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"expected two [n, d] sets of the same width with n >= 2; got {a.shape} and {b.shape}")
    mean_gap = a.mean(axis=0) - b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr((C_a C_b)^(1/2)) is the sum of square roots of the eigenvalues of C_a C_b, which are real
    # and non-negative for covariance matrices (tiny negative or imaginary parts are rounding).
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b).real.clip(min=0.0)
    return float(mean_gap @ mean_gap + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.sqrt(eigenvalues).sum())
