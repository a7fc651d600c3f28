"""The fidelity gate and the ranking of candidates: personalise, but never change what the product is.

A candidate passes if it is still the product (cosine similarity to the original photo >= tau, and
the zero-shot article type unchanged) and it moved toward the taste (gain > min_gain, where gain is
its similarity to the taste minus the original's). Among those that pass, the largest gain wins.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CandidateScore:
    similarity: float  # to the original photo
    gain: float  # similarity to the taste minus the original photo's
    article_type: str
    passed: bool


def score_candidates(candidates: np.ndarray, original: np.ndarray, taste: np.ndarray, candidate_types,
                     original_type: str, *, tau: float, min_gain: float = 0.0) -> list[CandidateScore]:
    """One score per candidate embedding row (all inputs unit vectors in one space)."""
    candidates = np.atleast_2d(candidates)
    similarity = candidates @ original
    gain = candidates @ taste - float(original @ taste)
    kept_type = np.asarray(candidate_types) == original_type
    passed = (similarity >= tau) & kept_type & (gain > min_gain)
    return [CandidateScore(float(s), float(g), str(t), bool(p))
            for s, g, t, p in zip(similarity, gain, candidate_types, passed)]


def best_candidate(scores: list[CandidateScore]) -> int | None:
    """Index of the passing candidate with the largest gain; None if none passed (serve the original)."""
    passing = [i for i, score in enumerate(scores) if score.passed]
    return max(passing, key=lambda i: scores[i].gain) if passing else None
