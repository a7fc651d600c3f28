"""`tailorcard bench upscale`: the upscaler's PSNR gain over PIL's bicubic on held-out photos, and its CPU speed.

Each held-out photo (cropped to sides that are multiples of 4) is reduced 4x with PIL's bicubic, enlarged back
with PIL's bicubic and with the model, and both are compared to the original. PSNR on Y (BT.601 luma, 8-bit
studio range, as SR papers report it), whole image, no border shaved; averaged per image. The RGB numbers come
along for reference.

Held-out set: the catalogue's own photos when they are at least 240 px on the long side (the upscaler never trains
on a catalogue), else clothing-photos' validation split (never trained on).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from features.catalogue import load_catalogue
from features.images import open_image
from imagegen.errors import BenchError
from imagegen.upscale.apply import MIN_LONG_SIDE, upscale_arrays
from imagegen.upscale.model import SCALE, Upscaler, model_version
from imagegen.upscale.train import psnr, psnr_y

SPEED_SIZE = (60, 80)  # width x height of fashion-small photos
SPEED_RUNS = 10
CATALOGUE_SAMPLE = 200  # catalogue photos whose headers decide whether the catalogue is large enough


def psnr_rgb(image: np.ndarray, truth: np.ndarray) -> float:
    return psnr(np.asarray(image, dtype=np.float64), np.asarray(truth, dtype=np.float64))


def heldout_photos(catalogue_dir: str | Path | None, photos_dir: str | Path | None, limit: int | None = None,
                   min_long_side: int = MIN_LONG_SIDE) -> tuple[list[Path], str]:
    """(photo files, what they are): the catalogue's photos >= min_long_side when it has such photos (judged on
    the first CATALOGUE_SAMPLE), else clothing-photos' validation split."""
    why = ""
    if catalogue_dir is not None:
        catalogue = load_catalogue(catalogue_dir, check_images=False)
        paths = [catalogue.image_path(key) for key in catalogue.photo_ids]
        long_sides = [_long_side(path) for path in paths[:CATALOGUE_SAMPLE]]
        if long_sides and np.median(long_sides) >= min_long_side:
            large = [path for path in paths if _long_side(path) >= min_long_side][:limit]
            return large, f"catalogue {catalogue_dir}: {len(large)} photos >= {min_long_side} px on the long side"
        why = (f" (catalogue {catalogue_dir}: its photos are {int(np.median(long_sides)) if long_sides else 0} px "
               f"on the long side, below {min_long_side})")
    if photos_dir is None:
        raise BenchError("expected --photos (clothing-photos) when there is no catalogue with photos of at least "
                         f"{min_long_side} px{why}")
    paths = sorted((Path(photos_dir) / "validation").glob("*/*.jpg"))[:limit]
    if not paths:
        raise BenchError(f"{Path(photos_dir) / 'validation'}: expected class folders of .jpg photos "
                         "(clothing-photos layout)")
    return paths, f"clothing-photos validation split {photos_dir}: {len(paths)} photos{why}"


def _long_side(path: Path) -> int:
    """From the header; 0 for a photo that is missing or unreadable (it is left out)."""
    try:
        with Image.open(path) as image:
            return max(image.size)
    except OSError:
        return 0


def bench_upscale(model: Upscaler, catalogue_dir: str | Path | None, photos_dir: str | Path | None, *,
                  limit: int | None = None, min_long_side: int = MIN_LONG_SIDE, log=print) -> dict:
    paths, evaluated_on = heldout_photos(catalogue_dir, photos_dir, limit, min_long_side)
    log(f"bench upscale: {evaluated_on}")
    rows = []
    for path in paths:
        photo = open_image(path)
        width, height = photo.width // SCALE * SCALE, photo.height // SCALE * SCALE
        truth = np.asarray(photo.crop((0, 0, width, height)))
        low = Image.fromarray(truth).resize((width // SCALE, height // SCALE), Image.BICUBIC)
        bicubic = np.asarray(low.resize((width, height), Image.BICUBIC))
        ours = upscale_arrays(model, np.asarray(low), bicubic)
        rows.append((psnr_y(bicubic, truth), psnr_y(ours, truth), psnr_rgb(bicubic, truth), psnr_rgb(ours, truth)))
    bicubic_y, model_y, bicubic_rgb, model_rgb = np.mean(rows, axis=0)
    return {"sr_psnr_gain_db": round(float(model_y - bicubic_y), 3), "psnr_bicubic_db": round(float(bicubic_y), 3),
            "psnr_model_db": round(float(model_y), 3), "psnr_on": "Y (BT.601), whole image, mean over images",
            "sr_psnr_gain_db_rgb": round(float(model_rgb - bicubic_rgb), 3), "images": len(rows),
            "evaluated_on": evaluated_on, "ms_per_image": round(_ms_per_image(model, paths[0]), 2),
            "speed_input": "x".join(map(str, SPEED_SIZE)), "model_version": model_version(model),
            "parameters": sum(p.numel() for p in model.parameters()), "device": "cpu",
            "torch_threads": torch.get_num_threads()}


def _ms_per_image(model: Upscaler, path: Path) -> float:
    """Median wall time of the model's 4x on a 60x80 photo (a held-out photo shrunk to that size), PIL's bicubic
    base included."""
    low = open_image(path).resize(SPEED_SIZE, Image.BICUBIC)
    lr = np.asarray(low)
    times = []
    for _ in range(SPEED_RUNS + 1):
        start = time.perf_counter()
        upscale_arrays(model, lr, np.asarray(low.resize((low.width * SCALE, low.height * SCALE), Image.BICUBIC)))
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times[1:]))
