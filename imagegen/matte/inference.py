"""`matte(image)`: a product photo's alpha and how far to trust it.

The photo is scaled so its longer side is at most the model's working size and padded with its own edge to the
network's multiple; the network runs on it and on its mirror image, and the two alphas are averaged (+1.4
points of IoU on held-out composites, at twice the cost). The alpha is scaled back to the photo's size; when
the photo was scaled down, a guided filter (He et al. 2010, the photo's grey levels as guide) puts the alpha's
edges back on the photo's edges.

A matte is unsure, and the photo keeps its original presentation, when any of these holds (judged at the
working size, so the same photo judges the same at any resolution):
  - confidence, the mean of |2 alpha - 1|, is below MIN_CONFIDENCE (too many pixels neither in nor out);
  - the product covers less than MIN_PRODUCT_SHARE of the photo (nothing found) or more than MAX_PRODUCT_SHARE;
  - the product touches all four borders (no backdrop around it: likely a texture, not a product);
  - its largest connected part spans less than MIN_PRODUCT_EXTENT of the photo's height and of its width: a
    catalogue photo frames its product, so a small kept part is likely a piece of it (a T-shirt's sequined
    pocket was kept "surely" on an amateur photo) or a stray object; 0.3 % of fashion-small's 12,757 trusted
    pseudo-masks span less than 0.4, 1.7 % less than 0.5;
  - more than MAX_INTERIOR_UNSURE of the product's interior (its filled outline, less a band along the edge) is
    undecided: a see-through patch, where a composite would show the new backdrop through the product (white
    bags and shirts on white did this while the whole-photo confidence stayed high).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from features.model_spec import embedded_dir
from imagegen.matte.model import MatteNet, load_matte_model

MIN_CONFIDENCE = 0.85
UNSURE_BAND = (0.1, 0.9)  # alpha strictly between these is undecided
MIN_PRODUCT_SHARE, MAX_PRODUCT_SHARE = 0.02, 0.95
MIN_PRODUCT_EXTENT = 0.4  # the product's largest part spans at least this share of the height or the width
MAX_INTERIOR_UNSURE = 0.05  # share of the product's interior that may be undecided
# A plain-backdrop pseudo-mask is used (on cards, and to train on) only where the trained matte agrees with it
# (IoU at 0.5): on white, a pseudo-mask can be "trusted" yet miss a white sole or a white shirt's body, which the
# scene would then replace. At 0.9 a sneaker whose white sole the pseudo-mask cut (5.6 % of the shoe) passed with
# 0.901; at 0.95, 58 of fashion-small's 318 trusted held-out pseudo-masks go to the matte instead.
MIN_MASK_AGREEMENT = 0.95
EDGE_BAND_PX = 2  # the outline's soft band (working-size pixels), not counted as interior
GUIDED_EPS = 1e-3  # the guided filter's regulariser, on [0, 1] grey levels


@dataclass(frozen=True)
class MatteConfidence:
    score: float  # mean |2 alpha - 1| at the working size: 1 when every pixel is decided
    unsure_share: float  # share of pixels with alpha strictly inside UNSURE_BAND
    product_share: float  # share of pixels with alpha >= 0.5
    interior_unsure_share: float = 0.0  # share of the product's interior undecided (see-through patches)
    product_extent: float = 1.0  # the largest connected part's span: max of its height and width shares
    largest_unsure_patch: float = 0.0  # the largest connected undecided patch of the interior, share of the photo
    reason: str | None = None  # why the matte is unsure; None when it can be used

    @property
    def sure(self) -> bool:
        return self.reason is None


@lru_cache(maxsize=1)
def embedded_matte_model() -> MatteNet:
    """The shipped model in data/models/embedded-matte (loaded once)."""
    return load_matte_model(embedded_dir("matte"))


def installed_matte_model() -> MatteNet | None:
    """The shipped trained matte when data/models holds one (loaded once), else None: plain backdrops only."""
    return embedded_matte_model() if embedded_dir("matte").is_dir() else None


@torch.no_grad()
def matte(image, model: MatteNet | None = None, settle: bool = False) -> tuple[np.ndarray, MatteConfidence]:
    """alpha float32 [h, w] in [0, 1] of a photo (uint8 [h, w, 3] array or PIL image), and its confidence.
    `settle`: the undecided interior decided by the photo's colours first (imagegen.matte.settle; a self-training
    teacher's option, not the cards')."""
    photo = _checked_photo(image)
    model = model or embedded_matte_model()
    height, width = photo.shape[:2]
    scale = min(1.0, model.config.working_size / max(height, width))
    small = photo if scale == 1.0 else np.asarray(Image.fromarray(photo).resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR))
    alpha_small = _predict(model, small)
    if settle:
        from imagegen.matte.settle import settle_by_colour  # it reads this module's rules
        alpha_small = settle_by_colour(alpha_small, small)
    alpha = alpha_small if scale == 1.0 else guided_upsample(alpha_small, photo)
    return alpha, judge_matte(alpha_small)


def _predict(model: MatteNet, photo: np.ndarray) -> np.ndarray:
    multiple, (height, width) = model.config.multiple, photo.shape[:2]
    pad_y, pad_x = -height % multiple, -width % multiple
    padded = np.pad(photo, ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2), (0, 0)), mode="edge")
    device = next(model.parameters()).device
    tensor = torch.from_numpy(padded).permute(2, 0, 1)[None].float().div(255).to(device)
    both = torch.sigmoid(model(torch.cat([tensor, tensor.flip(-1)])))  # the photo and its mirror image, averaged
    alpha = ((both[0, 0] + both[1, 0].flip(-1)) / 2)[pad_y // 2:pad_y // 2 + height, pad_x // 2:pad_x // 2 + width]
    return alpha.float().cpu().numpy()


def guided_upsample(alpha: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """`alpha` (a scaled-down photo's) at `photo`'s size, its edges snapped to the photo's by a guided filter."""
    height, width = photo.shape[:2]
    upsampled = F.interpolate(torch.from_numpy(alpha)[None, None], size=(height, width), mode="bilinear",
                              align_corners=False)[0, 0].numpy()
    radius = max(1, round(max(height, width) / max(alpha.shape)))
    guide = photo.astype(np.float32).mean(axis=-1) / 255.0

    def box(values):
        return ndimage.uniform_filter(values, size=2 * radius + 1, mode="nearest")

    mean_guide, mean_alpha = box(guide), box(upsampled)
    slope = (box(guide * upsampled) - mean_guide * mean_alpha) / (box(guide * guide) - mean_guide ** 2 + GUIDED_EPS)
    offset = mean_alpha - slope * mean_guide
    return np.clip(box(slope) * guide + box(offset), 0.0, 1.0).astype(np.float32)


def judge_matte(alpha: np.ndarray) -> MatteConfidence:
    """Whether a matte can be used (see the module's docstring for the rules)."""
    alpha = np.asarray(alpha, dtype=np.float32)
    score = float(np.abs(2 * alpha - 1).mean())
    unsure = float(((alpha > UNSURE_BAND[0]) & (alpha < UNSURE_BAND[1])).mean())
    product = alpha >= 0.5
    share = float(product.mean())
    undecided = undecided_interior(alpha)
    interior = interior_unsure_share(alpha, undecided)
    extent = product_extent(product)
    values = {"score": round(score, 4), "unsure_share": round(unsure, 4), "product_share": round(share, 4),
              "interior_unsure_share": round(interior, 4), "product_extent": round(extent, 4),
              "largest_unsure_patch": round(largest_unsure_patch(alpha, undecided), 5)}
    return MatteConfidence(**values, reason=_unsure_reason(score, unsure, share, product, interior, extent))


def _unsure_reason(score: float, unsure: float, share: float, product: np.ndarray,
                   interior_unsure: float, extent: float) -> str | None:
    low, high = UNSURE_BAND
    if score < MIN_CONFIDENCE:
        return (f"matte unsure: confidence {score:.2f} < {MIN_CONFIDENCE} "
                f"({unsure:.0%} of pixels between {low} and {high})")
    if share < MIN_PRODUCT_SHARE:
        return f"no product found: {share:.1%} of the photo is foreground (at least {MIN_PRODUCT_SHARE:.0%} expected)"
    if share > MAX_PRODUCT_SHARE:
        return f"matte unsure: {share:.0%} of the photo is foreground (at most {MAX_PRODUCT_SHARE:.0%} expected)"
    if product[0].any() and product[-1].any() and product[:, 0].any() and product[:, -1].any():
        return "matte unsure: the foreground touches all four borders (no backdrop around it)"
    if extent < MIN_PRODUCT_EXTENT:
        return (f"matte unsure: the product's largest part spans {extent:.0%} of the photo (at least "
                f"{MIN_PRODUCT_EXTENT:.0%} of its height or width expected: a part of the product, or a stray object?)")
    if interior_unsure > MAX_INTERIOR_UNSURE:
        return (f"matte unsure: {interior_unsure:.0%} of the product's interior is between {low} and {high} "
                f"(a see-through patch; at most {MAX_INTERIOR_UNSURE:.0%})")
    return None


def mask_iou(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """IoU per image of alphas [n, h, w] thresholded at 0.5 (1.0 when both are empty)."""
    predicted, truth = np.asarray(predicted) >= 0.5, np.asarray(truth) >= 0.5
    intersection = (predicted & truth).sum(axis=(1, 2))
    union = (predicted | truth).sum(axis=(1, 2))
    return np.where(union == 0, 1.0, intersection / np.maximum(union, 1))


def product_extent(product: np.ndarray) -> float:
    """The largest connected part of a boolean product mask: the larger of its height and width shares."""
    labels, count = ndimage.label(product)
    if count == 0:
        return 0.0
    largest = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    rows, cols = ndimage.find_objects((labels == largest).astype(np.int32))[0]
    return max((rows.stop - rows.start) / product.shape[0], (cols.stop - cols.start) / product.shape[1])


def product_interior(alpha: np.ndarray) -> np.ndarray:
    """The product's interior, boolean [h, w]: alpha above the unsure band's low end filled in, less EDGE_BAND_PX
    along its outline (the soft edge a card keeps soft)."""
    return ndimage.binary_erosion(ndimage.binary_fill_holes(alpha > UNSURE_BAND[0]), iterations=EDGE_BAND_PX)


def undecided_interior(alpha: np.ndarray) -> np.ndarray:
    """The pixels of the product's interior (product_interior) with alpha strictly inside UNSURE_BAND."""
    low, high = UNSURE_BAND
    return product_interior(alpha) & (alpha > low) & (alpha < high)


def interior_unsure_share(alpha: np.ndarray, undecided: np.ndarray | None = None) -> float:
    """Share of the product's interior (product_interior) undecided (`undecided`: undecided_interior, if known)."""
    interior = product_interior(alpha)
    if not interior.any():
        return 0.0
    undecided = undecided_interior(alpha) if undecided is None else undecided
    return float(undecided.sum() / interior.sum())


def largest_unsure_patch(alpha: np.ndarray, undecided: np.ndarray | None = None) -> float:
    """The largest connected patch of undecided_interior (given as `undecided`, if known), as a share of the photo's
    pixels."""
    labels, count = ndimage.label(undecided_interior(alpha) if undecided is None else undecided)
    return float(np.bincount(labels.ravel())[1:].max() / alpha.size) if count else 0.0


def _checked_photo(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        image = image.convert("RGB")
    photo = np.asarray(image)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8 or min(photo.shape[:2]) < 1:
        raise ValueError(f"expected a photo as a uint8 RGB array [h, w, 3] or a PIL image; "
                         f"got {type(image).__name__} {getattr(photo, 'dtype', '')} {getattr(photo, 'shape', '')}")
    return photo
