"""Upscaling a product photo 4x for a card, and the size a card is served at.

    result = upscale_for_card(model, photo)        # photos >= 240 px on the long side come back untouched
    result.image, result.upscaled, result.factor, result.model_version, result.steps   # for the provenance record
    image, upscaled = result                        # also unpacks as a pair

The model's output is PIL's 8-bit bicubic 4x enlargement plus the network's residual, rounded and clipped to
uint8; a model whose residual is zero gives PIL's bicubic exactly. Deterministic on a given machine.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from imagegen.upscale.model import SCALE, Upscaler, model_version

MIN_LONG_SIDE = 240
TILE = 128  # low-resolution tile side for large photos (each tile carries the model's reach as margin)
WHOLE_LIMIT = 256 * 256  # low-resolution pixels processed in one piece


@dataclass(frozen=True)
class UpscaleResult:
    image: Image.Image
    upscaled: bool
    factor: float  # served long side / source long side (1.0 when untouched)
    model_version: str | None  # imagegen.upscale.model.model_version of the weights used; None when untouched
    steps: tuple[str, ...] = ()  # what was done, in order: "model x4", "bicubic to 240 px long side"

    def __iter__(self):
        return iter((self.image, self.upscaled))


def card_size(width: int, height: int, min_long_side: int = MIN_LONG_SIDE) -> tuple[int, int]:
    """The size a card serves a width x height photo at: unchanged when its long side is >= min_long_side, else
    4x, and if that is still short, enlarged further to min_long_side on the long side (aspect kept, rounded)."""
    if min(width, height) < 1:
        raise ValueError(f"expected a positive photo size; got {width}x{height}")
    if max(width, height) >= min_long_side:
        return width, height
    width, height = width * SCALE, height * SCALE
    long_side = max(width, height)
    if long_side >= min_long_side:
        return width, height
    ratio = min_long_side / long_side
    return max(round(width * ratio), 1), max(round(height * ratio), 1)


def enlarged_plainly(image: Image.Image, min_long_side: int = MIN_LONG_SIDE) -> Image.Image:
    """The photo at card size by bicubic enlargement alone (no model); the same object when it is large enough."""
    size = card_size(*image.size, min_long_side)
    return image if size == image.size else image.convert("RGB").resize(size, Image.BICUBIC)


def plain_card_png(image: Image.Image) -> bytes | None:
    """`enlarged_plainly` as PNG bytes, or None when the photo is already card-sized (serve it as it is)."""
    enlarged = enlarged_plainly(image)
    if enlarged is image:
        return None
    out = io.BytesIO()
    enlarged.save(out, format="PNG", optimize=False)
    return out.getvalue()


def upscale_for_card(model: Upscaler, image: Image.Image, min_long_side: int = MIN_LONG_SIDE) -> UpscaleResult:
    """The photo as a card serves it (see card_size): the same object when it is large enough, else the model's
    4x enlargement, resized bicubically up to min_long_side when 4x is not enough."""
    width, height = image.size
    target = card_size(width, height, min_long_side)
    if target == (width, height):
        return UpscaleResult(image, False, 1.0, None)
    enlarged, steps = upscale(model, image), [f"model x{SCALE}"]
    if enlarged.size != target:
        enlarged = enlarged.resize(target, Image.BICUBIC)
        steps.append(f"bicubic to {min_long_side} px long side")
    return UpscaleResult(enlarged, True, max(target) / max(width, height), model_version(model), tuple(steps))


def upscale(model: Upscaler, image: Image.Image) -> Image.Image:
    """`image` enlarged exactly 4x: RGB (L, P, CMYK, ... become RGB); RGBA, LA and P with transparency keep an
    alpha channel, enlarged with PIL's bicubic."""
    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A").resize((image.width * SCALE, image.height * SCALE), Image.BICUBIC)
        image = rgba.convert("RGB")
    elif image.mode != "RGB":
        image = image.convert("RGB")
    lr = np.asarray(image)
    base = np.asarray(image.resize((image.width * SCALE, image.height * SCALE), Image.BICUBIC))
    out = Image.fromarray(upscale_arrays(model, lr, base))
    if alpha is not None:
        out.putalpha(alpha)
    return out


@torch.inference_mode()
def upscale_arrays(model: Upscaler, lr: np.ndarray, base: np.ndarray) -> np.ndarray:
    """uint8 [h, w, 3] and its bicubic 4x enlargement uint8 [4h, 4w, 3] -> uint8 [4h, 4w, 3]."""
    model.eval()
    base_t = torch.from_numpy(np.array(base)).permute(2, 0, 1)[None].float() / 255
    residual = _residual(model, torch.from_numpy(np.array(lr)).permute(2, 0, 1)[None].float() / 255)
    out = (base_t + residual)[0].permute(1, 2, 0).mul(255).round().clamp(0, 255)
    return out.to(torch.uint8).numpy()


def _residual(model: Upscaler, lr: torch.Tensor) -> torch.Tensor:
    """The model's residual for the whole image, in tiles with a margin of the model's reach when it is large
    (so the tiles' result is the whole image's)."""
    height, width = lr.shape[-2:]
    if height * width <= WHOLE_LIMIT:
        return model.residual(lr)
    margin = model.config.reach
    residual = torch.empty(1, 3, height * SCALE, width * SCALE)
    for top in range(0, height, TILE):
        for left in range(0, width, TILE):
            bottom, right = min(top + TILE, height), min(left + TILE, width)
            t, l = max(top - margin, 0), max(left - margin, 0)
            tile = model.residual(lr[..., t:min(bottom + margin, height), l:min(right + margin, width)])
            residual[..., top * SCALE:bottom * SCALE, left * SCALE:right * SCALE] = \
                tile[..., (top - t) * SCALE:(bottom - t) * SCALE, (left - l) * SCALE:(right - l) * SCALE]
    return residual
