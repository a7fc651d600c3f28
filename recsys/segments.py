"""Taste segments: spherical k-means (faiss) over user taste vectors.

Later stages generate product images per segment rather than per user; a user's segment is
the centroid nearest (by cosine) to their taste vector.
"""
from __future__ import annotations

import faiss
import numpy as np

from features.errors import TailorcardError
from features.vectors import unit_rows


class SegmentError(TailorcardError):
    """Segments asked of too few users, or used before they were fitted."""


class TasteSegments:
    def __init__(self, k: int = 16, n_iter: int = 25, seed: int = 0):
        self.config = {"k": int(k), "n_iter": int(n_iter), "seed": int(seed)}
        self.centroids: np.ndarray | None = None

    @property
    def k(self) -> int:
        return self.config["k"]

    def fit(self, user_vectors) -> "TasteSegments":
        vectors = _unit_rows(user_vectors)
        if len(vectors) < self.k:
            raise SegmentError(f"{len(vectors)} user vector(s) for k={self.k} segments; need at least k")
        kmeans = faiss.Kmeans(vectors.shape[1], self.k, niter=self.config["n_iter"], seed=self.config["seed"],
                              spherical=True, verbose=False)
        kmeans.train(vectors)
        self.centroids = _unit_rows(kmeans.centroids)
        return self

    def segments_of(self, user_vectors) -> np.ndarray:
        """Segment number (0..k-1) per row of user vectors."""
        if self.centroids is None:
            raise SegmentError("segments are not fitted; call fit(user_vectors) or load(path) first")
        vectors = _unit_rows(user_vectors)
        if vectors.shape[1] != self.centroids.shape[1]:
            raise SegmentError(f"user vectors have dim {vectors.shape[1]}; segments were fitted on dim "
                               f"{self.centroids.shape[1]}")
        return np.argmax(vectors @ self.centroids.T, axis=1)

    def segment_of(self, user_vector) -> int:
        return int(self.segments_of(np.asarray(user_vector)[None, :])[0])

    @classmethod
    def from_centroids(cls, centroids, **config) -> "TasteSegments":
        """Segments fitted elsewhere (the database row the service keeps them in): `config` as for the constructor, k from the rows."""
        centroids = _unit_rows(centroids)
        segments = cls(**{**config, "k": len(centroids)})
        segments.centroids = centroids
        return segments


def _unit_rows(vectors) -> np.ndarray:
    """Contiguous float32 for faiss; a zero taste stays zero rather than failing the whole fit."""
    return unit_rows(vectors, dtype=np.float32, allow_zero=True)
