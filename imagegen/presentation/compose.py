"""The pixel work of a scene card: the product's alpha, the square the generator paints, the backdrop at card
size, and the composite in which the product's own pixels are untouched.

    matted = matte_photo(photo)                         # None + reason when the matte is unsure
    square, repaint, box = generator_input(matted, 64)  # what the scene generator paints around
    backdrop = backdrop_at_card(painted, box, matted.pixels.shape[:2], blur=1.0)
    card = compose(matted, backdrop)                    # product pixels (alpha == 1) are matted.pixels' exactly
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from imagegen.matte import composite, matte
from imagegen.matte.inference import MIN_MASK_AGREEMENT, mask_iou
from imagegen.matte.pseudo_mask import pseudo_mask

SOLID_ALPHA = 0.98  # alpha from here up is the product's interior: those pixels are the photo's, bit for bit
# A card's alpha is stretched about 0.5 by this factor (0.3 and below: backdrop; 0.7 and up: product): the matte
# is made at 80 px and enlarged to the card, so its soft band is 8-15 card pixels wide, a glow of the old backdrop
# around the product (worst on amateur photos, enlarged 6.7x). Which pixels are product (alpha >= 0.5) is unchanged.
EDGE_CONTRAST = 2.5
# The decoder pads its convolutions, so a painted square's outer rows and columns come out off-colour (measured on
# the shipped scene generator: row 0 differs from row 1 by 17 levels on average, inner rows by 7). Enlarged to a
# card that touches the square's border, they were a reddish line along the card's top edge; the crop skips them.
PAINTED_BORDER = 2
# On a plain studio backdrop, an undecided patch inside the product larger than this share of the photo (20 of a
# 60x80 photo's working pixels) refuses the matte: the card would show a haze of the old backdrop there (a glow
# between an arm and the body, a bag's handle filled with mist): 15 of the 17 held-out fashion-small cards it refuses
# showed one at card size. Not on other backdrops: of clothing-photos' 8 such cards 3 did (docs/benchmarks.md).
MAX_HAZE_PATCH = 0.004
# How matte_photo decides and how a card is cut: part of the presenter's version (stored cards remade)
RULES_VERSION = "matte-rules/6"


@dataclass(frozen=True)
class MattedPhoto:
    pixels: np.ndarray  # uint8 [h, w, 3]: the photo at card size
    alpha: np.ndarray  # float32 [h, w] in [0, 1]; exactly 1 on the product's interior
    source: str  # "pseudo-mask" (a plain backdrop) or "matte" (the trained matte)

    @property
    def product(self) -> np.ndarray:
        """The pixels that are the product itself: what no presentation may change."""
        return self.alpha >= 1.0


def matte_photo(pixels: np.ndarray, matte_model=None) -> tuple[MattedPhoto | None, str | None]:
    """The product's alpha: a plain studio backdrop's pseudo-mask when it is trusted and the trained matte
    (`matte_model`; None: there is none) agrees with it, else the matte when it is sure (and, on a plain backdrop,
    holds no undecided patch over MAX_HAZE_PATCH). Returns (None, why) when neither can be used."""
    pixels = np.asarray(pixels)
    plain = pseudo_mask(pixels)
    if matte_model is None:
        if plain.trusted:
            return MattedPhoto(pixels, card_alpha(plain.alpha), "pseudo-mask"), None
        return None, f"no trained matte installed, and the backdrop is not plain ({plain.reason})"
    alpha, confidence = matte(pixels, matte_model)
    agreement = float(mask_iou(alpha[None], plain.alpha[None])[0]) if plain.trusted else None
    if agreement is not None and agreement >= MIN_MASK_AGREEMENT:
        return MattedPhoto(pixels, card_alpha(plain.alpha), "pseudo-mask"), None
    if confidence.sure and plain.plain_border and confidence.largest_unsure_patch > MAX_HAZE_PATCH:
        return None, (f"matte unsure: an undecided patch of {confidence.largest_unsure_patch:.1%} of the photo inside "
                      f"the product, on a plain backdrop (at most {MAX_HAZE_PATCH:.1%}): the card would show a haze of "
                      "the old backdrop there")
    if confidence.sure:
        return MattedPhoto(pixels, card_alpha(alpha), "matte"), None
    disagreement = ("" if agreement is None else f"the plain-backdrop mask and the matte disagree (IoU {agreement:.3f} "
                    f"< {MIN_MASK_AGREEMENT}: a part of the product as pale as the backdrop?) and ")
    return None, disagreement + confidence.reason


def card_alpha(alpha: np.ndarray) -> np.ndarray:
    """The alpha a card composites with: its edge band narrowed by EDGE_CONTRAST about 0.5, exactly 1 from
    SOLID_ALPHA up (the product's interior)."""
    narrowed = np.clip((np.asarray(alpha, dtype=np.float32) - 0.5) * EDGE_CONTRAST + 0.5, 0.0, 1.0)
    return np.where(narrowed >= SOLID_ALPHA, 1.0, narrowed).astype(np.float32)


def generator_input(matted: MattedPhoto, size: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The photo centred on a white square at the generator's size, where to paint (True: not the product),
    and the photo's box (left, top, width, height) in that square."""
    height, width = matted.alpha.shape
    side = max(height, width)
    left, top = (side - width) // 2, (side - height) // 2
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(Image.fromarray(matted.pixels), (left, top))
    alpha = np.zeros((side, side), dtype=np.float32)
    alpha[top:top + height, left:left + width] = matted.alpha
    square = np.asarray(canvas.resize((size, size), Image.BICUBIC))
    small_alpha = np.asarray(Image.fromarray(alpha).resize((size, size), Image.BILINEAR))
    scale = size / side
    return square, small_alpha < 0.5, (round(left * scale), round(top * scale), round(width * scale),
                                       round(height * scale))


def backdrop_at_card(painted: np.ndarray, box: tuple[int, int, int, int], shape: tuple[int, int],
                     blur: float = 1.0) -> np.ndarray:
    """The painted square's photo box, upsampled softly to the card's `shape` (h, w): backdrops are soft, so a
    small generated one loses little by it. The box is kept PAINTED_BORDER pixels inside the square."""
    painted = np.asarray(painted, dtype=np.uint8)
    left, top, width, height = box
    crop = Image.fromarray(painted).crop(_inside_border((left, top, left + max(width, 1), top + max(height, 1)),
                                                        painted.shape[:2]))
    backdrop = crop.resize((shape[1], shape[0]), Image.BICUBIC)
    if blur > 0:
        backdrop = backdrop.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(backdrop)


def _inside_border(edges: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) moved PAINTED_BORDER pixels in from the square's edges where they reach them,
    keeping at least one pixel."""
    height, width = size
    left, top = max(edges[0], PAINTED_BORDER), max(edges[1], PAINTED_BORDER)
    right, bottom = min(edges[2], width - PAINTED_BORDER), min(edges[3], height - PAINTED_BORDER)
    return left, top, max(right, left + 1), max(bottom, top + 1)


def compose(matted: MattedPhoto, backdrop: np.ndarray) -> np.ndarray:
    """The product over the backdrop (imagegen.matte.composite): its interior is the photo's, bit for bit."""
    return composite(matted.pixels, matted.alpha, backdrop)


def product_unchanged(card: np.ndarray, matted: MattedPhoto) -> bool:
    """Whether every product pixel of the card is the photo's own (the rule every scene card must pass)."""
    product = matted.product
    return bool(product.any()) and np.array_equal(np.asarray(card)[product], matted.pixels[product])
