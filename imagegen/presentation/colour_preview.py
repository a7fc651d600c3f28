"""A colour preview: the product's own photo shown in another colour its catalogue row says it comes in.

    colours = product_colours(attributes)                       # features.colours: what the row lists
    preview = colour_preview(photo, colours[0], matte_model=None, source_hash=content_hash)
    preview.image, preview.record.label                          # uint8 [h, w, 3] at card size, "Colour preview: Navy Blue"
    preview.png()                                                # PNG with the provenance record and XMP

Only ever for a colour the row lists: recolouring toward a colour the store does not sell showed shoppers
products that do not exist (docs/design-presentation.md). The default card never changes colour.

How: the photo is matted as scene cards are (a plain backdrop's pseudo-mask, else the trained matte; neither
trusted: refused, since the backdrop must never be recoloured) and enlarged to card size as cards show it.
In CIE Lab the product's dominant colour is moved onto the target: pixels near it in colour (the fabric, lit
and shaded) fully, pixels far from it (prints, logos, trims) less and then not at all. Lightness moves by the
difference with the product's shading kept; backdrop pixels (alpha 0) are the photo's, bit for bit. No trained
model is involved, so the record says `algorithmicallyEnhanced` and the label names the colour.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from features.colours import ProductColour
from features.errors import TailorcardError
from imagegen.colour import dominant_lab, lab_to_srgb, srgb_to_lab
from imagegen.matte import decontaminate
from imagegen.presentation.compose import SOLID_ALPHA, matte_photo
from imagegen.provenance import Provenance, png_bytes
from imagegen.upscale import enlarged_plainly

VERSION = "colour-preview/1"  # the algorithm below; a change to it must change this
# The band between them trades two faults seen on docs/colour-previews.png: wider (20..50) moved a model's legs
# part-way to Off White beside navy shorts; narrower (15..35) left grey blotches in a bottle's highlights.
NEAR_DELTA_E = 20.0  # up to this distance from the dominant colour a pixel is the same fabric: moved fully
FAR_DELTA_E = 40.0  # from this distance on a pixel is another colour (a print, a logo, a trim): kept
LIGHTNESS_SHARE = 0.5  # lightness counts half in that distance: shading changes lightness, a print changes hue
# ... except for a grey or black product, which has no hue: there lightness is all that tells the fabric from
# skin or a print (at half weight a model's legs came out 60 % of the way to the target beside black shorts)
GREY_LIGHTNESS_SHARE = 1.0
GREY_CHROMA = 5.0  # a dominant colour of less chroma (|a, b|) is grey: no hue to keep the shading of
MIN_CONTRAST = 0.25  # the product's shading keeps at least this share of its contrast (see _lightness)


class ColourPreviewRefused(TailorcardError):
    """No preview can be made honestly (no single colour, no trusted matte); the message says why."""


@dataclass(frozen=True)
class ColourPreview:
    image: np.ndarray  # uint8 [h, w, 3] at card size
    record: Provenance

    def png(self) -> bytes:
        return png_bytes(self.image, self.record)


def colour_preview(photo: Image.Image, colour: ProductColour, matte_model=None, source_hash: str = "",
                   product_id: str | None = None) -> ColourPreview:
    """The product photo in `colour` (one its row lists), at card size, with its provenance record.
    Raises ColourPreviewRefused when the colour is no single colour or no matte of the photo is trusted."""
    if colour.rgb is None:
        raise ColourPreviewRefused(colour.no_preview)
    photo = photo.convert("RGB")
    matted, reason = matte_photo(np.asarray(photo), matte_model)
    if matted is None:
        raise ColourPreviewRefused(f"no colour preview of this photo: {reason}; without a trusted matte the product "
                                   "cannot be told from its backdrop, and the backdrop is never recoloured")
    card = enlarged_plainly(photo)
    image, own = recolour(np.asarray(card), _alpha_at(matted.alpha, card.size), colour.rgb)
    parameters = {"colour": colour.name, "target": colour.hex, "product_colour": _hex(own), "matte": matted.source,
                  "size": [image.shape[1], image.shape[0]]}
    record = Provenance(ai_generated=False, generator_version=VERSION, encoder_version="", seed=None,
                        source_product_hash=source_hash, segment="all", parameters=parameters,
                        product_id=product_id, edit="colour_preview", label=preview_label(colour.name))
    return ColourPreview(image, record)


def preview_label(name: str) -> str:
    """What a card shows over a colour preview."""
    return f"Colour preview: {name}"


def recolour(pixels: np.ndarray, alpha: np.ndarray, target_rgb) -> tuple[np.ndarray, np.ndarray]:
    """(the photo with its product moved to `target_rgb`, the product's own dominant colour in Lab). `alpha`:
    float [h, w], 1 on the product's interior; where it is 0 the photo's pixels come back unchanged."""
    pixels, alpha = np.asarray(pixels), np.asarray(alpha, dtype=np.float64)
    interior = alpha >= 1.0
    if not interior.any():
        raise ColourPreviewRefused("the matte found no product interior to recolour")
    # an outline pixel mixes product and backdrop: its product colour is recoloured, and only its alpha share of
    # it replaced, so the outline follows the new colour without carrying the old one as a halo
    foreground = decontaminate(pixels, alpha)
    lab = srgb_to_lab(foreground)
    own, target = dominant_lab(lab[interior]), srgb_to_lab(np.asarray(target_rgb, dtype=np.uint8))
    closeness = _closeness(lab, own)
    moved = np.concatenate([_lightness(lab[..., :1], own[0], target[0], lab[interior & (closeness > 0.5), 0]),
                            _chroma(lab[..., 1:], own[1:], target[1:])], axis=-1)
    recoloured = lab_to_srgb(lab + closeness[..., None] * (moved - lab)).astype(np.float64)
    changed = pixels + alpha[..., None] * (recoloured - foreground)
    # pixels with no share of the change (the backdrop, far prints) are the photo's own, not a round trip
    untouched = (alpha * closeness <= 0)[..., None]
    return np.where(untouched, pixels, np.clip(np.round(changed), 0, 255).astype(np.uint8)), own


def _alpha_at(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The photo's alpha at card size (w, h). Matted at card size instead, the enlargement's soft fringe (about
    four pixels wide) would fall outside a pseudo-mask's one-pixel edge: alpha 0, left in the old colour as a halo."""
    if alpha.shape[::-1] == tuple(size):
        return alpha
    enlarged = np.asarray(Image.fromarray(alpha).resize(size, Image.BILINEAR))
    return np.where(enlarged >= SOLID_ALPHA, 1.0, np.clip(enlarged, 0.0, 1.0)).astype(np.float32)


def _closeness(lab: np.ndarray, own: np.ndarray) -> np.ndarray:
    """1 for the dominant colour and its shades, falling to 0 at FAR_DELTA_E (lightness counted at half, fully for a grey product)."""
    grey = float(np.hypot(*own[1:])) < GREY_CHROMA
    difference = (lab - own) * np.array([GREY_LIGHTNESS_SHARE if grey else LIGHTNESS_SHARE, 1.0, 1.0])
    distance = np.linalg.norm(difference, axis=-1)
    return np.clip((FAR_DELTA_E - distance) / (FAR_DELTA_E - NEAR_DELTA_E), 0.0, 1.0)


def _lightness(lightness: np.ndarray, own: float, target: float, fabric: np.ndarray) -> np.ndarray:
    """Lightness shifted by the difference, the texture around it scaled only as far as needed to keep the
    fabric's darkest and lightest percent inside 0..100: a plain shift would clip (black to white loses every
    fold), a stretch would exaggerate. Never below MIN_CONTRAST, so a darker stripe stays darker."""
    low, high = np.percentile(fabric, [1, 99]) if fabric.size else (own, own)
    room = [target / (own - low) if low < own else np.inf, (100 - target) / (high - own) if high > own else np.inf]
    contrast = float(np.clip(min(room), MIN_CONTRAST, 1.0))
    return target + (lightness - own) * contrast


def _chroma(ab: np.ndarray, own: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each pixel's share of the dominant colour's chroma becomes that share of the target's, and what lies across
    it (noise, weave) is kept: a shaded fold, of the same hue with less chroma, becomes a shaded fold of the target
    rather than overshooting it (a plain shift tinted a navy's dark stripe green in off white). A grey product
    has no chroma to share out: its pixels are shifted by the difference."""
    strength = float(own @ own)
    share = np.clip(ab @ own / strength, 0.0, 2.0)[..., None] if strength > GREY_CHROMA ** 2 else 1.0
    return ab + share * (target - own)


def _hex(lab: np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*lab_to_srgb(lab).tolist())
