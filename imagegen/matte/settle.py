"""`settle_by_colour(alpha, photo)`: a matte's undecided interior decided by the photo's own colours, as GrabCut
decides by colour models of the sure parts (Rother et al. 2004), without the graph cut.

Used by a teacher in self-training (`tailorcard train-matte --teacher-settles`), never on cards: on studio
photos half the cards it made newly sure carried white residue (docs/benchmarks.md, sixteenth session), but
as a teacher's tool it trained a matte that decides more itself. A pixel of the product's interior (the rules'
own: imagegen.matte.inference.undecided_interior, alpha strictly inside UNSURE_BAND) goes to the product
(alpha 1) when its CIELAB colour lies at least MARGIN_DELTA_E nearer the sure product's colours than the nearby
sure backdrop's, to the backdrop (alpha 0) in the reverse case, and stays as it is in between.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from imagegen.colour import delta_e, srgb_to_lab
from imagegen.matte.inference import UNSURE_BAND, undecided_interior

MARGIN_DELTA_E = 10.0  # how much nearer one side's colours must be
COLOURS_PER_SIDE = 6  # k-means centres of the sure product's colours, and of the backdrop's
MIN_SURE_PIXELS = 20  # a side with fewer sure pixels has no colour model: nothing is settled


def settle_by_colour(alpha: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """`alpha` (float [h, w]) with its undecided interior settled by colour; `photo` uint8 [h, w, 3] the same size."""
    low, high = UNSURE_BAND
    unsure = undecided_interior(alpha)
    if not unsure.any():
        return alpha
    lab = srgb_to_lab(photo)
    product = ndimage.binary_erosion(alpha >= high, iterations=1)
    near = ndimage.binary_dilation(alpha > low, iterations=max(4, alpha.shape[0] // 10))
    backdrop = (alpha <= low) & near
    if product.sum() < MIN_SURE_PIXELS or backdrop.sum() < MIN_SURE_PIXELS:
        return alpha
    points = lab[unsure]
    to_product, to_backdrop = _nearest(points, _centres(lab[product])), _nearest(points, _centres(lab[backdrop]))
    settled = alpha.copy()
    values = settled[unsure]
    values[to_backdrop > to_product + MARGIN_DELTA_E] = 1.0
    values[to_product > to_backdrop + MARGIN_DELTA_E] = 0.0
    settled[unsure] = values
    return settled


def _centres(points: np.ndarray, iterations: int = 8, sample: int = 4000, seed: int = 0) -> np.ndarray:
    """k-means centres of colour points (a fixed seed: the same photo settles the same everywhere)."""
    rng = np.random.default_rng(seed)
    if len(points) > sample:
        points = points[rng.choice(len(points), sample, replace=False)]
    centres = points[rng.choice(len(points), min(COLOURS_PER_SIDE, len(points)), replace=False)]
    for _ in range(iterations):
        nearest = ((points[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        centres = np.stack([points[nearest == j].mean(0) if (nearest == j).any() else centres[j]
                            for j in range(len(centres))])
    return centres


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each colour's delta E to its nearest centre."""
    return delta_e(points[:, None], centres[None]).min(axis=1)
