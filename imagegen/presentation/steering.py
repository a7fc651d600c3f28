"""Results feed the generator: a segment's next scenes are painted for a condition drawn toward the scenes that won.

    condition = next_condition(current, winners, originals, step=0.5)

`winners` are CLIP embeddings of the winning scene cards, `originals` those of the same products' own photos.
What the backdrops added (winner minus original, so the product itself cancels) is the direction shoppers
rewarded; the part of it that is new to the current condition turns the condition by `step` (0: stay, 1: 45
degrees toward it). The next round is painted for that condition, so it keeps the segment's taste and leans
to the backdrops that won. The fidelity rules do not change: every round is composited the same way.
"""
from __future__ import annotations

import numpy as np

from features.vectors import unit_rows
from imagegen.errors import PresentationError


def next_condition(current: np.ndarray, winners: np.ndarray, originals: np.ndarray, step: float = 0.5) -> np.ndarray:
    """The next round's unit condition (see the module docstring)."""
    if not 0 <= step <= 1:
        raise PresentationError(f"step must be in [0, 1]; got {step!r}")
    winners, originals = np.atleast_2d(winners), np.atleast_2d(originals)
    if winners.shape != originals.shape or len(winners) == 0:
        raise PresentationError(f"expected one original per winning scene; got winners {winners.shape} and "
                                f"originals {originals.shape}")
    current = unit_rows(current)[0]
    rewarded = (unit_rows(winners) - unit_rows(originals)).mean(axis=0)
    new = rewarded - (rewarded @ current) * current  # what the condition does not say yet
    norm = np.linalg.norm(new)
    if norm < 1e-9:  # the winners add nothing the condition lacks: stay
        return current.astype(np.float32)
    return unit_rows(current + step * new / norm)[0].astype(np.float32)
