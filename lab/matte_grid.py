"""The matte's visual check: photos beside their matte over a flat blue, so a missing sole or a kept piece of
floor shows at a glance. A red bar marks a matte judged unsure (the card keeps its photo).

    grid = matte_grid(model, catalogue_dir, backgrounds_dir)  # PIL image: rows of (photo, over blue) pairs
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from imagegen.errors import BenchError
from imagegen.matte.data import catalogue_products, read_photo
from imagegen.matte.inference import matte
from imagegen.matte.pseudo_mask import pseudo_mask

CELL = (120, 160)  # (width, height) of one photo in the grid
BLUE = np.array([40, 80, 200], dtype=np.float32)
PAIRS_PER_ROW = 6


def matte_grid(model, catalogue_dir: str | Path, backgrounds_dir: str | Path, per_set: int = 12,
               seed: int = 0) -> Image.Image:
    """Two blocks of `per_set` photos: held-out catalogue photos whose plain-backdrop pseudo-mask is not trusted
    (what the matte is for), then amateur photos (clothing-photos' validation split, every 7th: all classes)."""
    catalogue = [path for _, path in catalogue_products(catalogue_dir, heldout=True, seed=seed)[:20 * per_set]
                 if not pseudo_mask(read_photo(path)).trusted][:per_set]
    amateur = sorted((Path(backgrounds_dir) / "validation").glob("*/*.jpg"))[::7][:per_set]
    tiles = [_pair(model, read_photo(path)) for path in [*catalogue, *amateur]]
    if not tiles:
        raise BenchError(f"no photo to show: {catalogue_dir} has no held-out photo without a trusted pseudo-mask and "
                         f"{backgrounds_dir}/validation no .jpg in class folders")
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % PAIRS_PER_ROW)  # the last row filled out with white
    rows = [np.concatenate(tiles[i:i + PAIRS_PER_ROW], axis=1) for i in range(0, len(tiles), PAIRS_PER_ROW)]
    return Image.fromarray(np.concatenate(rows, axis=0))


def _pair(model, photo: np.ndarray) -> np.ndarray:
    width, height = CELL
    image = ImageOps.contain(Image.fromarray(photo), CELL, Image.LANCZOS)  # small photos enlarged, as cards are
    canvas = Image.new("RGB", CELL, (255, 255, 255))
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    pixels = np.asarray(canvas)
    alpha, confidence = matte(pixels, model)
    over_blue = np.round(alpha[..., None] * pixels + (1 - alpha[..., None]) * BLUE).astype(np.uint8)
    if not confidence.sure:
        over_blue[:6] = (220, 30, 30)
    return np.concatenate([pixels, over_blue], axis=1)
