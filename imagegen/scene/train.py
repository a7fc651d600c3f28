"""Train the scene generator's inpainting UNet on SceneSet composites; the movq is an existing decoder's.

Denoising loss with min-SNR weighting (imagegen.training.unet), counted only where the backdrop is painted
(the kept latents are put back at every sampling step), toward the backdrop alone there (SceneSet.targets),
condition dropout for classifier-free guidance, EMA weights. Checkpoints atomically and resumes
(imagegen.training.run).
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import torch

from features.checkpoint import find_checkpoint, load_module_state, read_state
from features.defaults import SCENE_MOVQ_IMAGES
from features.logs import job_logger
from imagegen.components import build_training_scheduler, build_unet
from imagegen.errors import TrainingError
from imagegen.matte.data import cached_product_set, load_backgrounds
from imagegen.pipeline import GeneratorSettings
from imagegen.scene.data import (SCENE_BACKGROUNDS, SceneSet, build_scene_set, scene_composites, scene_mix_tag,
                                 uint8_images)
from imagegen.scene.generator import SceneGenerator
from imagegen.training.autoencoder import FINAL_DIR, fit_autoencoder, load_trained_movq
from imagegen.training.ema import EMA
from imagegen.training.run import TrainingRun, prepare_device
from imagegen.training.unet import (WARMUP_STEPS, denoising_loss, drop_some, optimizer_step, set_learning_rate,
                                    snr_per_timestep)

STAGE = "scene"
MOVQ_BATCH = 32  # a step of the 64 px autoencoder costs about 0.15 s an image on one CPU core


def prepare_scene_set(catalogue_dir, backgrounds_dir, out_dir: Path, encoder, movq, *, count: int, products: int,
                      seed: int, region: str = SCENE_BACKGROUNDS, movq_minutes: float = 0.0,
                      movq_images: int = SCENE_MOVQ_IMAGES, movq_max_steps: int | None = None,
                      log=print) -> tuple[SceneSet, object]:
    """The run folder's SceneSet and the autoencoder its latents are in, built once (products with pseudo-masks
    over `region` squares of clothing-photos' train split, imagegen.matte.data.load_backgrounds): conditions from
    `encoder`; latents from `movq` (an existing decoder's autoencoder) or, with `movq_minutes`, from the run's own
    (`movq` fine-tuned on scene composites first: scene_autoencoder)."""
    out_dir = Path(out_dir)
    # latents are the autoencoder's: a set built with the given one is not reused with the run's own, or back
    own = "-own-movq" if movq_minutes else ""
    cache = out_dir / f"scene-set-{count}-seed{seed}-{region}-{scene_mix_tag()}{own}.npz"

    @functools.cache
    def inputs():
        return (cached_product_set(out_dir / f"products-{products}-seed{seed}.npz", catalogue_dir, products, seed,
                                   log),
                load_backgrounds(backgrounds_dir, "train", log=log, region=region))
    if movq_minutes:
        movq = load_trained_movq(out_dir) if (out_dir / FINAL_DIR / "config.json").is_file() else \
            scene_autoencoder(*inputs(), out_dir, movq, movq_minutes, count=movq_images, seed=seed,
                              max_steps=movq_max_steps)
    if cache.is_file():
        log(f"scene set: {cache}")
        return SceneSet.load(cache), movq
    scenes = build_scene_set(*inputs(), count, encoder, movq.eval(), size=int(movq.config.sample_size), seed=seed,
                             log=log)
    scenes.save(cache)
    return scenes, movq


def scene_autoencoder(products, backgrounds, out_dir: Path, movq, minutes: float, *, count: int, seed: int,
                      max_steps: int | None = None):
    """`movq` fine-tuned for `minutes` on `count` scene composites and their backdrops alone (the run's own
    autoencoder, out_dir/movq). The embedded generator's autoencoder learnt product photos on white only: it
    decoded a plain red square as grey with purple noise, so no UNet painting through it could paint red."""
    parts = scene_composites(products, backgrounds, count, int(movq.config.sample_size), seed + 1)  # not the set's
    images = torch.cat([torch.cat([composites, backdrops]) for composites, _, backdrops in parts])
    return fit_autoencoder(movq, uint8_images(images), out_dir, minutes, batch_size=MOVQ_BATCH, max_steps=max_steps,
                           log_every=20, progress=False,
                           hyperparameters={"images": len(images), "batch_size": MOVQ_BATCH, "seed": seed,
                                            "fine_tuned": True})


def train_scene(scenes: SceneSet, out_dir: str | Path, minutes: float, *, config: str | dict = "unet-inpaint",
                scheduler_config: str = "scheduler-v", batch_size: int = 64, learning_rate: float = 5e-4,
                ema_decay: float = 0.995, resume: bool = False,
                max_steps: int | None = None, checkpoint_every_s: float = 60.0, log_every: int = 100, seed: int = 0):
    """Train for `minutes` of this session; returns the EMA UNet."""
    out_dir, device = Path(out_dir), prepare_device("cpu", seed)
    # conditions are what backdrops add: typical ones get unit-variance entries, as unit embeddings do at sqrt(d)
    added_norm = float(scenes.conditions.norm(dim=1).median())
    condition_scale = math.sqrt(scenes.conditions.shape[1]) / added_norm
    unet = build_unet(config, embed_dim=scenes.conditions.shape[1]).train()
    # velocity targets: a small model trained briefly gives clean (if soft) backdrops rather than leftover noise
    ema, scheduler = EMA(unet, ema_decay), build_training_scheduler(scheduler_config)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=learning_rate, weight_decay=1e-2)
    run = TrainingRun(out_dir / STAGE, {"unet": unet, "ema_unet": ema.model}, {"optimizer": optimizer}, minutes,
                      resume=resume, max_steps=max_steps, checkpoint_every_s=checkpoint_every_s, log_every=log_every,
                      progress=False, log_file=out_dir / "train.log",
                      hyperparameters={"batch_size": batch_size, "config": config, "scheduler": scheduler_config,
                                       "seed": seed, "samples": len(scenes),
                                       "ema_decay": ema_decay, "condition_scale": condition_scale})
    run.extra_state.update(config=dict(unet.config), condition_scale=condition_scale, space_id=scenes.space_id,
                           added_norm=added_norm,
                           scheduler=dict(scheduler.config))
    snr = snr_per_timestep(scheduler).to(device)
    torch.manual_seed(seed + run.step)  # a resumed run does not replay its batches
    for step in run:
        set_learning_rate(optimizer, learning_rate * min(1.0, (step + 1) / WARMUP_STEPS))
        loss = scene_loss(unet, scheduler, snr, scenes, torch.randint(len(scenes), (batch_size,)), condition_scale)
        optimizer_step(unet, optimizer, ema, step, loss)
        run.log(step, loss=loss)
    return ema.model


def scene_loss(unet, scheduler, snr, scenes: SceneSet, index: torch.Tensor, condition_scale: float) -> torch.Tensor:
    latents, keep, targets = scenes.latents[index], scenes.keep[index], scenes.targets(index)
    flip = (torch.rand(len(index)) < 0.5)[:, None, None, None]  # a mirrored composite is as real (the movq is conv)
    latents, keep, targets = (torch.where(flip, x.flip(-1), x) for x in (latents, keep, targets))
    extra = torch.cat([latents * keep, keep], dim=1)
    return denoising_loss(unet, scheduler, snr, targets, drop_some(scenes.conditions[index] * condition_scale),
                          extra=extra, where=1.0 - keep)


def export_scene_generator(out_dir: str | Path, dest: str | Path, movq, condition_bank=None,
                           **settings) -> SceneGenerator:
    """Write `dest` (a diffusers KandinskyV22InpaintPipeline folder + our settings) from the last checkpoint, with
    `condition_bank` (the training set's conditions, imagegen.scene.bank) beside it."""
    checkpoint = find_checkpoint(Path(out_dir) / STAGE / "checkpoint")
    if checkpoint is None:
        raise TrainingError(f"{out_dir}: no scene checkpoint; run `tailorcard train-scene` first")
    state = read_state(checkpoint)["extra"]
    unet = build_unet(state["config"])
    unet.load_state_dict(load_module_state(checkpoint, "ema_unet"))
    scene_settings = GeneratorSettings(space_id=state["space_id"], embed_dim=int(unet.config.encoder_hid_dim),
                                       condition_scale=float(state["condition_scale"]), conditioning="added",
                                       added_norm=float(state["added_norm"]),
                                       image_size=int(movq.config.sample_size), **settings)
    generator = SceneGenerator(unet, movq, build_training_scheduler(dict(state["scheduler"])), scene_settings,
                               device="cpu", condition_bank=condition_bank)
    generator.save(dest)
    job_logger(Path(out_dir) / "train.log").info(f"{STAGE}: exported to {dest}")
    return generator
