"""Synthetic studio photos and amateur backgrounds for the matte tests: tiny, offline, with known masks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from features.image_pack import is_heldout


def ellipse_alpha(height: int = 80, width: int = 60, centre=(42, 30), radii=(26, 17), edge_px: float = 1.5):
    """An anti-aliased ellipse: alpha float32 [height, width], 1 inside, 0 outside, a ramp on the outline."""
    yy, xx = np.mgrid[0:height, 0:width]
    distance = np.hypot((yy - centre[0]) / radii[0], (xx - centre[1]) / radii[1])
    return np.clip((1 - distance) * min(radii) / edge_px + 0.5, 0, 1).astype(np.float32)


def studio_photo(alpha: np.ndarray, colour, backdrop=(250, 250, 250), noise: float = 2.0, seed: int = 0) -> np.ndarray:
    """A product of `colour` (with a darker stripe) on a plain backdrop, with sensor-like noise."""
    rng = np.random.default_rng(seed)
    product = np.broadcast_to(np.asarray(colour, dtype=np.float32), alpha.shape + (3,)).copy()
    product[alpha.shape[0] // 2:alpha.shape[0] // 2 + 4] *= 0.6
    mixed = alpha[..., None] * product + (1 - alpha[..., None]) * np.asarray(backdrop, dtype=np.float32)
    return np.clip(np.round(mixed + rng.normal(0, noise, mixed.shape)), 0, 255).astype(np.uint8)


def write_matte_data(root: Path, training: int = 10, heldout: int = 6) -> tuple[Path, Path]:
    """A fashion-small-like catalogue (studio photos of ellipses) and a clothing-photos-like backgrounds folder."""
    catalogue, backgrounds = root / "catalogue", root / "backgrounds"
    (catalogue / "images").mkdir(parents=True)
    wanted = {False: training, True: heldout}
    rows, rng = [], np.random.default_rng(0)
    for product_id in range(1, 10_000):
        split = is_heldout(product_id)
        if wanted[split] == 0:
            continue
        wanted[split] -= 1
        alpha = ellipse_alpha(radii=(int(rng.integers(18, 34)), int(rng.integers(10, 24))))
        photo = studio_photo(alpha, rng.integers(0, 180, 3), seed=product_id)
        Image.fromarray(photo).save(catalogue / "images" / f"{product_id}.jpg", quality=95)
        rows.append({"product_id": product_id, "title": f"product {product_id}", "image": f"images/{product_id}.jpg"})
        if not any(wanted.values()):
            break
    pd.DataFrame(rows).to_csv(catalogue / "catalogue.csv", index=False)
    for split, count in (("train", 4), ("validation", 3)):
        (backgrounds / split / "shirt").mkdir(parents=True)
        for n in range(count):
            texture = rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)  # blocky, like a busy scene
            Image.fromarray(texture).resize((300, 400), Image.NEAREST).save(backgrounds / split / "shirt" / f"{n}.jpg")
    return catalogue, backgrounds
