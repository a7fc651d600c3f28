"""Train the 4x upscaler on random patches of clothing-photos' train split.

Each sample: a random HR patch (any of the 8 flips/rotations; a share of them taken from a larger region shrunk to
the patch, for sharper detail), its low-resolution version by PIL's bicubic 4x reduction, sometimes JPEG-compressed
(catalogue photos are JPEGs), and PIL's bicubic 4x enlargement of that as the base the model adds its residual to.
L1 loss, AdamW, a short warm-up and a cosine decay over the run's training time (resumed sessions included).
Checkpoints (atomic, imagegen/training/checkpoint.py) every minute; the PSNR gain over bicubic on fixed held-back
training photos in the log every few minutes (the bench uses the validation split, never trained on).

Decoded training photos are cached at full size in the run folder (photos-train.npy, uint8, memory-mapped), so a
resumed session does not decode them again.
"""
from __future__ import annotations

import io
import math
import os
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from features.images import open_image
from features.logs import job_logger
from imagegen.errors import TrainingError
from imagegen.training.run import TrainingRun, prepare_device
from imagegen.upscale.model import SCALE, Upscaler, UpscalerConfig, save_upscaler

STAGE = "upscale"
WARMUP_STEPS = 100
MIN_LR_SHARE = 0.05  # the cosine decays to this share of the peak
MONITOR_PHOTOS = 64  # training-split photos held back from training, for the log's PSNR gain
MONITOR_PATCH = 128
JPEG_QUALITY = (70, 95)
SHRUNK_SHARE = 0.2  # samples whose HR patch is a larger region (1x-2x the patch) shrunk to the patch


class PhotoCache:
    """Photos as one flat uint8 array (memory-mapped) with their shapes: np.load(mmap) of two .npy files."""

    def __init__(self, pixels: np.ndarray, shapes: np.ndarray):
        self.pixels, self.shapes = pixels, shapes
        self.offsets = np.concatenate([[0], np.cumsum(shapes.prod(axis=1))])

    def __len__(self) -> int:
        return len(self.shapes)

    def photo(self, index: int) -> np.ndarray:
        return self.pixels[self.offsets[index]:self.offsets[index + 1]].reshape(self.shapes[index])

    @classmethod
    def build(cls, paths: list[Path], cache: Path, log) -> PhotoCache:
        shapes_file = cache.with_name(cache.stem + "-shapes.npy")
        if cache.is_file() and shapes_file.is_file():
            found = cls(np.load(cache, mmap_mode="r"), np.load(shapes_file))
            if len(found) == len(paths):
                log(f"photos: {len(found)} from {cache}")
                return found
        photos = []
        for n, path in enumerate(paths):
            photos.append(np.asarray(open_image(path)))
            if (n + 1) % 1000 == 0:
                log(f"photos: decoded {n + 1}/{len(paths)}")
        shapes = np.array([photo.shape for photo in photos], dtype=np.int64)
        cache.parent.mkdir(parents=True, exist_ok=True)
        for file, array in ((shapes_file, shapes), (cache, np.concatenate([p.reshape(-1) for p in photos]))):
            staging = file.with_name(file.stem + ".tmp.npy")
            np.save(staging, array)
            os.replace(staging, file)
        log(f"photos: {len(photos)} decoded, cached in {cache}")
        return cls(np.load(cache, mmap_mode="r"), shapes)


def training_photo_paths(photos_dir: str | Path, split: str = "train") -> list[Path]:
    paths = sorted((Path(photos_dir) / split).glob("*/*.jpg"))
    if not paths:
        raise TrainingError(f"{Path(photos_dir) / split}: expected class folders of .jpg photos "
                            "(clothing-photos layout: train/<class>/*.jpg, validation/<class>/*.jpg)")
    return paths


def train_upscaler(photos_dir: str | Path, out_dir: str | Path, minutes: float, *, batch_size: int = 16,
                   patch: int = 96, lr: float = 1.5e-3, config: UpscalerConfig | None = None, resume: bool = False,
                   max_steps: int | None = None, seed: int = 0, export_dir: str | Path | None = None,
                   jpeg_share: float = 0.3, threads: int | None = None, checkpoint_every_s: float = 60.0,
                   validate_every_s: float = 180.0, log_every: int = 100) -> Upscaler:
    """Train for `minutes` of training time in all (resumed sessions included); write the model, with a copy of
    the log as training.log, to `export_dir` (default out_dir/model)."""
    if patch % SCALE or patch < 2 * SCALE:
        raise TrainingError(f"patch must be a multiple of {SCALE} and at least {2 * SCALE}; got {patch}")
    if threads is not None:
        torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    logger = job_logger(out_dir / "train.log")
    device = prepare_device("cpu", seed)
    paths = training_photo_paths(photos_dir)
    order = np.random.default_rng(seed).permutation(len(paths))
    if len(paths) < 2:
        raise TrainingError(f"{Path(photos_dir) / 'train'}: expected at least 2 photos (one is held back for the log)")
    monitor_count = max(1, min(MONITOR_PHOTOS, len(paths) // 4))
    monitor_paths = [paths[i] for i in sorted(order[:monitor_count])]
    training = PhotoCache.build([paths[i] for i in sorted(order[monitor_count:])],
                                out_dir / f"photos-train-seed{seed}.npy", logger.info)
    usable = np.flatnonzero(training.shapes[:, :2].min(axis=1) >= patch)
    if not len(usable):
        raise TrainingError(f"{photos_dir}: no training photo is at least {patch} px on its short side (--patch)")
    monitor = _monitor_set(monitor_paths)
    model = Upscaler(config or UpscalerConfig()).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    run = TrainingRun(out_dir / STAGE, {"model": model}, {"optimizer": optimizer}, minutes, resume=resume,
                      max_steps=max_steps, checkpoint_every_s=checkpoint_every_s, log_every=log_every,
                      budget_spans_sessions=True, progress=False, log_file=out_dir / "train.log",
                      hyperparameters={"batch_size": batch_size, "patch": patch, "config": model.config,
                                       "photos": len(usable), "monitor_photos": monitor_count,
                                       "jpeg_share": jpeg_share, "shrunk_share": SHRUNK_SHARE, "seed": seed,
                                       "torch_threads": torch.get_num_threads()})

    def report():
        gain = monitor_gain(model, *monitor)
        logger.info(f"{STAGE} step {run.step}: held-back PSNR gain over bicubic (Y) {gain:.3f} dB")

    run.every(validate_every_s, report)
    rng = np.random.default_rng([seed, run.step])  # a resumed run does not replay the batches it has seen
    for step in run:
        _set_learning_rate(optimizer, lr, step, run.seconds / run.budget_s)
        batch = random_batch(training, usable, batch_size, patch, rng, jpeg_share)
        loss = training_step(model, optimizer, *batch)
        run.log(step, loss=loss)
    report()
    export_dir = Path(export_dir or out_dir / "model")
    save_upscaler(model.eval(), export_dir)
    shutil.copyfile(out_dir / "train.log", export_dir / "training.log")
    return model


def training_step(model: Upscaler, optimizer, lr_images, base, hr) -> torch.Tensor:
    model.train()
    loss = F.l1_loss(model(lr_images, base), hr)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def random_batch(photos: PhotoCache, usable: np.ndarray, count: int, patch: int, rng: np.random.Generator,
                 jpeg_share: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(lr [count, 3, patch/4, patch/4], its bicubic enlargement and the HR patch [count, 3, patch, patch]),
    floats in [0, 1]."""
    samples = []
    for index in rng.choice(usable, count):
        photo = photos.photo(index)
        side = patch
        if rng.random() < SHRUNK_SHARE:
            side = int(min(rng.uniform(1.0, 2.0) * patch, *photo.shape[:2]))
        top, left = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
        region = np.asarray(photo[top:top + side, left:left + side])
        if side != patch:
            region = np.asarray(Image.fromarray(region).resize((patch, patch), Image.BICUBIC))
        turns, flip = rng.integers(4), rng.random() < 0.5
        region = np.rot90(region[:, ::-1] if flip else region, turns)
        jpeg = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)) if rng.random() < jpeg_share else None
        samples.append(degrade(np.ascontiguousarray(region), jpeg))
    return tuple(torch.from_numpy(np.stack(part)).permute(0, 3, 1, 2).float().div(255) for part in zip(*samples))


def degrade(hr: np.ndarray, jpeg_quality: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HR uint8 [h, w, 3] (sides multiples of 4) -> (LR by PIL bicubic /4, optionally JPEG-compressed; PIL's bicubic
    x4 of the LR; HR)."""
    height, width = hr.shape[:2]
    low = Image.fromarray(hr).resize((width // SCALE, height // SCALE), Image.BICUBIC)
    if jpeg_quality is not None:
        buffer = io.BytesIO()
        low.save(buffer, format="JPEG", quality=jpeg_quality)
        low = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return np.asarray(low), np.asarray(low.resize((width, height), Image.BICUBIC)), hr


def _monitor_set(paths: list[Path]) -> tuple[torch.Tensor, ...]:
    """Centre crops of held-back training photos (MONITOR_PATCH px, or the smallest photo's side in multiples of 4
    when smaller), degraded without JPEG."""
    photos = [np.asarray(open_image(path)) for path in paths]
    side = min(MONITOR_PATCH, *(min(photo.shape[:2]) // SCALE * SCALE for photo in photos))
    if side < SCALE:
        raise TrainingError(f"held-back training photos must be at least {SCALE} px on their short side")
    samples = []
    for photo in photos:
        top, left = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
        samples.append(degrade(photo[top:top + side, left:left + side]))
    return tuple(torch.from_numpy(np.stack(part)).permute(0, 3, 1, 2).float().div(255) for part in zip(*samples))


def psnr_y(image: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of the BT.601 luma of two [h, w, 3] images in 0..255."""
    return psnr(_luma(image), _luma(truth))


def _luma(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    return 16 + (65.481 * image[..., 0] + 128.553 * image[..., 1] + 24.966 * image[..., 2]) / 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 100.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@torch.no_grad()
def monitor_gain(model: Upscaler, lr_images, base, hr) -> float:
    """Mean PSNR (Y) of the model's 8-bit output minus that of the bicubic base, over the held-back crops."""
    model.eval()
    out = model(lr_images, base).clamp(0, 1).mul(255).round()
    to_array = lambda t: t.mul(255).round().permute(0, 2, 3, 1).numpy()  # noqa: E731
    out, base, hr = out.permute(0, 2, 3, 1).numpy(), to_array(base), to_array(hr)
    return float(np.mean([psnr_y(o, h) - psnr_y(b, h) for o, b, h in zip(out, base, hr)]))


def _set_learning_rate(optimizer, peak: float, step: int, progress: float) -> None:
    warmup = min(1.0, (step + 1) / WARMUP_STEPS)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    for group in optimizer.param_groups:
        group["lr"] = peak * warmup * (MIN_LR_SHARE + (1 - MIN_LR_SHARE) * cosine)
