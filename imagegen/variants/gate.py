"""The fidelity gate and the ranking of candidates: personalise, but never change what the product is.

A candidate passes if it is still the product (cosine similarity to the original photo >= tau, and
the zero-shot article type unchanged) and it moved toward the taste (gain > min_gain, where gain is
its similarity to the taste minus the original's) and, when the variant is meant to lean to a
colour, its dominant colour came closer to that colour than the photo's is (`colour_gain` > 0, in
delta E; imagegen.colour). Among those that pass, the largest gain wins.
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
    colour_gain: float | None = None  # delta E to the wanted colour: the original's minus the candidate's


def score_candidates(candidates: np.ndarray, original: np.ndarray, taste: np.ndarray, candidate_types,
                     original_type: str, *, tau: float, min_gain: float = 0.0,
                     colour_gains=None) -> list[CandidateScore]:
    """One score per candidate embedding row (all inputs unit vectors in one space); `colour_gains`, one
    per candidate, when the variant is meant to lean to a colour."""
    candidates = np.atleast_2d(candidates)
    similarity = candidates @ original
    gain = candidates @ taste - float(original @ taste)
    kept_type = np.asarray(candidate_types) == original_type
    passed = (similarity >= tau) & kept_type & (gain > min_gain)
    if colour_gains is not None:
        colour_gains = np.asarray(colour_gains, dtype=np.float64)
        passed &= colour_gains > 0
    colours = [None] * len(candidates) if colour_gains is None else [float(g) for g in colour_gains]
    return [CandidateScore(float(s), float(g), str(t), bool(p), c)
            for s, g, t, p, c in zip(similarity, gain, candidate_types, passed, colours)]


def best_candidate(scores: list[CandidateScore]) -> int | None:
    """Index of the passing candidate with the largest gain; None if none passed (serve the original)."""
    passing = [i for i, score in enumerate(scores) if score.passed]
    return max(passing, key=lambda i: scores[i].gain) if passing else None
