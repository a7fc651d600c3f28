"""Train the matte network on catalogue photos and hard composites (see imagegen/matte/data.py).

Loss: binary cross-entropy against the (soft) true alpha plus a soft-IoU term, so small products count as much
as large ones. AdamW with a short warm-up and a cosine decay over the run's training time, which spans resumed
sessions. `bf16=True` runs forward and loss under CPU bf16 autocast: for this convolutional net it halves a
step's time where the CPU computes bf16 natively (0.50 s -> 0.25 s at batch 32, one thread, on the machine of the
shipped runs) and makes it about ten times slower where it does not (4.2 s against 0.42 s on an AMD EPYC without
avx512_bf16, 2026-12-06, read off two runs' step logs).
Checkpoints (atomic, imagegen/training/checkpoint.py) every minute; IoU on fixed held-out composites
in the log every few minutes.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from features.logs import job_logger
from imagegen.errors import TrainingError
from imagegen.matte.data import (BENCH_MIX, MATTE_BACKGROUNDS, build_product_set, cached_product_set, catalogue_products,
                                 ProductSet, joined, load_backgrounds, pseudo_labelled_photos, random_batch,
                                 teacher_agreeing)
from imagegen.matte.inference import MIN_MASK_AGREEMENT, mask_iou
from imagegen.matte.model import MatteConfig, MatteNet, load_matte_model, save_matte_model
from imagegen.training.run import TrainingRun, prepare_device

STAGE = "matte"
WARMUP_STEPS = 50
VALIDATION_SAMPLES = 256


def train_matte(catalogue_dir: str | Path, backgrounds_dir: str | Path, out_dir: str | Path, minutes: float, *,
                products: int = 16000, batch_size: int = 32, lr: float = 3e-3, config: MatteConfig | None = None,
                resume: bool = False, max_steps: int | None = None, seed: int = 0, export_dir: str | Path | None = None,
                checkpoint_every_s: float = 60.0, validate_every_s: float = 180.0, log_every: int = 50,
                bf16: bool = False, init_dir: str | Path | None = None,
                teacher_dir: str | Path | None = None, self_train: bool = False,
                teacher_settles: bool = False, gaps_kept: frozenset[str] | None = None) -> MatteNet:
    """Train for `minutes` of training time in all (resumed sessions included); write the model to `export_dir`
    (default out_dir/model). `init_dir`: a matte model folder whose weights the run starts from (fine-tuning;
    its config is the model's), instead of a random start. `teacher_dir`: a trained matte whose disagreement
    leaves a product's pseudo-mask out of training (imagegen.matte.data.teacher_agreeing); with `self_train`,
    its sure mattes of the backgrounds' train photos are training products too (pseudo_labelled_photos);
    `teacher_settles`: the teacher's mattes have their undecided interior settled by colour first
    (imagegen.matte.settle). `gaps_kept`: the pseudo-masks' backdrop-coloured holes are backdrop in the truth but
    for these products' (imagegen.matte.data.build_product_set)."""
    if self_train and teacher_dir is None:
        raise TrainingError("self-training needs a teacher: the matte whose sure mattes become the truth")
    if teacher_settles and teacher_dir is None:
        raise TrainingError("--teacher-settles settles a teacher's mattes: give a --teacher")
    out_dir = Path(out_dir)
    logger = job_logger(out_dir / "train.log")
    device = prepare_device("cpu", seed)
    gaps = "" if gaps_kept is None else "-open-gaps"
    training = cached_product_set(out_dir / f"products-{products}-seed{seed}{gaps}.npz", catalogue_dir, products, seed,
                                  logger.info, gaps_kept)
    training = _taught(training, teacher_dir, backgrounds_dir if self_train else None, logger, teacher_settles)
    backgrounds = load_backgrounds(backgrounds_dir, "train", log=logger.info, region=MATTE_BACKGROUNDS)
    validation = _validation_set(catalogue_dir, backgrounds_dir, seed, logger)
    model = _initial_model(config, init_dir, logger).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    run = TrainingRun(out_dir / STAGE, {"model": model}, {"optimizer": optimizer}, minutes, resume=resume,
                      max_steps=max_steps, checkpoint_every_s=checkpoint_every_s, log_every=log_every,
                      budget_spans_sessions=True, progress=False, log_file=out_dir / "train.log",
                      hyperparameters={"batch_size": batch_size, "config": model.config, "products": len(training),
                                       "backgrounds": len(backgrounds), "seed": seed, "bf16": bf16,
                                       "init": str(init_dir) if init_dir else None,
                                       "teacher": str(teacher_dir) if teacher_dir else None,
                                       "self_train": self_train, "teacher_settles": teacher_settles,
                                       "gaps_kept": None if gaps_kept is None else len(gaps_kept)})
    run.every(validate_every_s, lambda: logger.info(f"{STAGE} step {run.step}: held-out composite IoU "
                                                    f"{validation_iou(model, *validation):.4f}"))
    torch.manual_seed(seed + run.step)  # a resumed run does not replay the batches it has seen
    for step in run:
        _set_learning_rate(optimizer, lr, step, run.seconds / run.budget_s)
        images, alpha = random_batch(training, backgrounds, batch_size, size=model.config.working_size)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = training_step(model, optimizer, images, alpha)
        run.log(step, loss=loss)
    logger.info(f"{STAGE}: final held-out composite IoU {validation_iou(model, *validation):.4f}")
    save_matte_model(model.eval(), export_dir or out_dir / "model")
    return model


def _taught(training: ProductSet, teacher_dir, photos_dir, logger, settle: bool = False) -> ProductSet:
    """The products a teacher leaves (and the amateur photos it is sure of, given `photos_dir`)."""
    if teacher_dir is None:
        return training
    teacher = load_matte_model(teacher_dir)
    training = teacher_agreeing(training, teacher, MIN_MASK_AGREEMENT, logger.info, settle)
    if photos_dir is None:
        return training
    return joined(training, pseudo_labelled_photos(photos_dir, "train", teacher, log=logger.info, settle=settle))


def _initial_model(config: MatteConfig | None, init_dir, logger) -> MatteNet:
    if init_dir is None:
        return MatteNet(config or MatteConfig())
    model = load_matte_model(init_dir)
    if config is not None and config != model.config:
        raise TrainingError(f"--init {init_dir} has config {model.config}; the run asked for {config}")
    logger.info(f"{STAGE}: starting from the weights in {init_dir}")
    return model


def training_step(model: MatteNet, optimizer, images: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    model.train()
    logits = model(images)
    loss = F.binary_cross_entropy_with_logits(logits, alpha) + soft_iou_loss(torch.sigmoid(logits), alpha)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def soft_iou_loss(predicted: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """1 - soft IoU per image, averaged; an image with no product scores by its false positives alone."""
    intersection = (predicted * alpha).sum(dim=(1, 2, 3))
    union = (predicted + alpha - predicted * alpha).sum(dim=(1, 2, 3))
    return (1 - (intersection + 1) / (union + 1)).mean()


@torch.no_grad()
def validation_iou(model: MatteNet, images: torch.Tensor, alpha: torch.Tensor) -> float:
    model.eval()
    predicted = torch.cat([torch.sigmoid(model(chunk)) for chunk in images.split(64)])
    return float(mask_iou(predicted.numpy()[:, 0], alpha.numpy()[:, 0]).mean())


def _set_learning_rate(optimizer, peak: float, step: int, progress: float) -> None:
    warmup = min(1.0, (step + 1) / WARMUP_STEPS)
    for group in optimizer.param_groups:
        group["lr"] = peak * warmup * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _validation_set(catalogue_dir, backgrounds_dir, seed: int, logger) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed composites of held-out products over validation backgrounds, for the log (the bench has its own)."""
    products = build_product_set(catalogue_products(catalogue_dir, heldout=True, limit=400, seed=seed + 1),
                                 log=logger.info)
    backgrounds = load_backgrounds(backgrounds_dir, "validation", log=logger.info, region=MATTE_BACKGROUNDS)
    generator = torch.Generator().manual_seed(seed + 1)
    return random_batch(products, backgrounds, VALIDATION_SAMPLES, mix=BENCH_MIX, generator=generator)
