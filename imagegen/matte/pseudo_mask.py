"""Pseudo-masks of studio photos: the backdrop is plain, so the product is what differs from the border's colour.

The backdrop colour is the median of the border ring; a pixel is product when its Lab distance to it passes a
threshold; opening removes JPEG specks; small holes are filled (a white logo on a shirt), large holes stay
backdrop (a bag's handle) unless they are not quite the backdrop's colour (a white watch face); components far
smaller than the largest are dropped. One pixel either side of the outline gets a soft alpha, the share of the
way from the backdrop colour to the nearby product colour, so edges are anti-aliased as the photo's are.

A pseudo-mask is not trusted (`trusted` False, with the reason) when the border is not plain, when the product
is too small or fills the frame, or when too much of it is barely distinguishable from the backdrop (a white
shirt on white): training ignores those, the bench leaves them out of its IoU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from imagegen.colour import srgb_to_lab

BORDER_PX = 2
PRODUCT_DELTA_E = 10.0  # Lab distance to the backdrop above which a pixel is product (JPEG noise stays below ~5)
EDGE_WINDOW_PX = 5  # the inner product pixels that give an outline pixel its reference colour
MIN_EDGE_CONTRAST = 24.0  # RGB distance between product and backdrop below which the mix ratio is too noisy
SOFT_EDGE_DELTA_E = (3.0, 20.0)  # else: Lab distance that maps to alpha 0 and 1 on the outline
PLAIN_BORDER_SHARE = 0.85  # share of border pixels within PRODUCT_DELTA_E of the backdrop colour, at least
FILLED_HOLE_SHARE = 0.06  # holes up to this share of the product's area are product (logos, prints)
BACKDROP_DELTA_E = 4.0  # a larger hole whose median distance passes this is a pale part of the product, not backdrop
HOLE_SHARE_MAX = 0.2  # backdrop seen through holes larger than this share of the product: likely a missed white part
MIN_GAP_PX = 10  # open_gaps: backdrop-coloured holes from this size up stay open (smaller ones: letters, specks)
KEPT_COMPONENT_SHARE = 0.05  # components smaller than this share of the largest are specks
PRODUCT_SHARE_RANGE = (0.03, 0.92)
FAINT_SHARE_MAX = 0.3  # at most this share of the product's envelope may be faint: product pixels within
# 2 x PRODUCT_DELTA_E of the backdrop, or pixels in its gaps that are tinted yet below PRODUCT_DELTA_E


@dataclass
class PseudoMask:
    alpha: np.ndarray  # float32 [h, w] in [0, 1]
    background: np.ndarray  # uint8 [3], the backdrop colour
    trusted: bool
    reason: str | None = None  # why it is not trusted
    plain_border: bool = False  # the border is one colour (PLAIN_BORDER_SHARE), trusted or not: a studio backdrop


def pseudo_mask(image: np.ndarray, open_gaps: bool = False) -> PseudoMask:
    """The product's alpha in a uint8 [h, w, 3] photo on a plain backdrop. `open_gaps`: holes of the backdrop's
    own colour stay backdrop whatever their size (from MIN_GAP_PX up), where pseudo_mask fills the small ones: the
    backdrop seen between an arm and the body is not product, yet neither are a white stripe or a watch's white
    face backdrop, and colour alone cannot tell them apart, so this is a training option whose exceptions a person
    lists (imagegen.matte.data.build_product_set), never what cards use."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) <= 2 * BORDER_PX:
        raise ValueError(f"expected a uint8 RGB photo [h, w, 3] larger than {2 * BORDER_PX} px a side; "
                         f"got {image.dtype} {image.shape}")
    border = _border_pixels(image)
    background = np.median(border, axis=0).astype(np.uint8)
    lab_background = srgb_to_lab(background)
    distance = np.linalg.norm(srgb_to_lab(image) - lab_background, axis=-1)
    mask = _clean(distance > PRODUCT_DELTA_E, distance, open_gaps)
    alpha = _soft_edges(mask, distance, image, background)
    plain_share = float((np.linalg.norm(srgb_to_lab(border) - lab_background, axis=-1) <= PRODUCT_DELTA_E).mean())
    reason = _distrust(mask, distance, plain_share)
    return PseudoMask(alpha, background, reason is None, reason, plain_share >= PLAIN_BORDER_SHARE)


def _border_pixels(image: np.ndarray) -> np.ndarray:
    ring = np.ones(image.shape[:2], dtype=bool)
    ring[BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX] = False
    return image[ring]


def _clean(mask: np.ndarray, distance: np.ndarray, open_gaps: bool = False) -> np.ndarray:
    mask = ndimage.binary_opening(mask, iterations=1) | (mask & (distance > 2 * PRODUCT_DELTA_E))
    mask = ndimage.binary_closing(mask, iterations=1, border_value=0) | mask
    mask = _fill_holes(mask, distance, open_gaps)
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    areas = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
    kept = np.flatnonzero(areas >= KEPT_COMPONENT_SHARE * areas.max()) + 1
    return np.isin(labels, kept)


def _fill_holes(mask: np.ndarray, distance: np.ndarray, open_gaps: bool = False) -> np.ndarray:
    holes, count = ndimage.label(ndimage.binary_fill_holes(mask) & ~mask)
    if count == 0:
        return mask
    index = np.arange(1, count + 1)
    areas = ndimage.sum_labels(np.ones_like(mask), holes, index=index)
    tinted = ndimage.median(distance, holes, index=index) > BACKDROP_DELTA_E
    small = (areas <= FILLED_HOLE_SHARE * max(mask.sum(), 1)) & ~(open_gaps & (areas >= MIN_GAP_PX))
    product = index[small | tinted]
    return mask | np.isin(holes, product)


def _soft_edges(mask: np.ndarray, distance: np.ndarray, image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Hard inside and outside; on the one-pixel band either side of the outline, the share of the way from the
    backdrop colour to the nearby product colour (the mean of the product's inner pixels around it)."""
    band = ndimage.binary_dilation(mask) & ~ndimage.binary_erosion(mask, border_value=1)
    inner = ndimage.binary_erosion(mask, border_value=1)[..., None].astype(np.float32)
    offset = image.astype(np.float32) - background.astype(np.float32)
    local_product = _box(offset * inner) / np.maximum(_box(inner), 1e-6)
    contrast = (local_product ** 2).sum(axis=-1)
    mixed = np.clip((offset * local_product).sum(axis=-1) / np.maximum(contrast, 1e-6), 0.0, 1.0)
    has_reference = (_box(inner)[..., 0] > 0) & (contrast > MIN_EDGE_CONTRAST ** 2)
    low, high = SOFT_EDGE_DELTA_E  # without a clear product colour nearby, the Lab distance decides
    soft = np.where(has_reference, mixed, np.clip((distance - low) / (high - low), 0.0, 1.0))
    return np.where(band, soft, mask).astype(np.float32)


def _box(values: np.ndarray) -> np.ndarray:
    return ndimage.uniform_filter(values, size=(EDGE_WINDOW_PX, EDGE_WINDOW_PX, 1), mode="nearest")


def _distrust(mask: np.ndarray, distance: np.ndarray, plain_share: float) -> str | None:
    if plain_share < PLAIN_BORDER_SHARE:
        return f"backdrop not plain: {plain_share:.0%} of the border matches its colour"
    share = float(mask.mean())
    low, high = PRODUCT_SHARE_RANGE
    if not low <= share <= high:
        return f"product covers {share:.0%} of the photo (expected {low:.0%} to {high:.0%})"
    holes = float((ndimage.binary_fill_holes(mask) & ~mask).sum() / mask.sum())
    if holes > HOLE_SHARE_MAX:
        return f"backdrop seen through holes of {holes:.0%} of the product's area (a missed pale part?)"
    envelope = ndimage.binary_closing(mask, iterations=3, border_value=0) | mask
    faint = (mask & (distance <= 2 * PRODUCT_DELTA_E)) | (envelope & ~mask & (distance > BACKDROP_DELTA_E))
    faint_share = float(faint.sum() / envelope.sum())
    if faint_share > FAINT_SHARE_MAX:
        return f"{faint_share:.0%} of the product's outline is close to the backdrop colour"
    return None
