"""Stage 2: the UNet learns to denoise latents conditioned on the product's CLIP image embedding.

DDPM epsilon objective with min-SNR weighting (faster convergence at this scale), condition
dropout to the zero vector (the null condition classifier-free guidance contrasts with), and EMA
weights, which are what ships. The variance half of the output (Kandinsky's learned variance) is
not trained: our samplers read only the first half.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from features.image_pack import ImagePack
from features.training_loop import autocast
from imagegen.components import build_training_scheduler, build_unet
from imagegen.errors import TrainingError
from imagegen.training.autoencoder import encode_images, load_trained_movq
from imagegen.training.data import training_images
from imagegen.training.ema import EMA
from imagegen.training.run import TrainingRun, prepare_device

STAGE = "unet"
NULL_CONDITION_PROBABILITY = 0.1
MIN_SNR_GAMMA = 5.0
WARMUP_STEPS = 200


def train_unet(pack: ImagePack, conditions: np.ndarray, out_dir: str | Path, minutes: float,
               device: str | torch.device = "cpu", *, condition_scale: float | None = None,
               batch_size: int = 512, learning_rate: float = 3e-4, config: str | dict = "unet",
               ema_decay: float = 0.999, resume: bool = False, max_steps: int | None = None,
               log_every: int = 100, checkpoint_every_s: float = 30.0, progress: bool = True, seed: int = 0):
    """Train the denoiser; `conditions` is float32 [len(pack), d], row i the embedding of pack.ids[i].

    Conditions are multiplied by `condition_scale` (default sqrt(d): unit vectors become unit-variance
    entries); generation applies the same factor, recorded with the weights. Returns the EMA UNet.
    """
    out_dir, device = Path(out_dir), prepare_device(device, seed)
    check_conditions(pack, conditions)
    condition_scale = float(np.sqrt(conditions.shape[1])) if condition_scale is None else condition_scale
    train = ~pack.heldout
    images = training_images(pack, device)
    movq = load_trained_movq(out_dir, images).to(device).requires_grad_(False)
    latents = encode_images(movq, images)
    del images, movq  # the UNet stage works on latents only
    embeds = torch.from_numpy(conditions[train]).float().to(device) * condition_scale

    unet = build_unet(config, embed_dim=conditions.shape[1]).to(device).train()
    ema = EMA(unet, ema_decay)
    scheduler = build_training_scheduler()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=learning_rate, weight_decay=1e-2)
    run = TrainingRun(out_dir / STAGE, {"unet": unet, "ema_unet": ema.model}, {"optimizer": optimizer}, minutes,
                      resume=resume, max_steps=max_steps, checkpoint_every_s=checkpoint_every_s,
                      log_every=log_every, progress=progress, log_file=out_dir / "train.log",
                      hyperparameters={"batch_size": batch_size, "config": config, "seed": seed, "ema_decay": ema_decay,
                                       "condition_scale": condition_scale, "warmup_steps": WARMUP_STEPS,
                                       "null_condition_probability": NULL_CONDITION_PROBABILITY,
                                       "min_snr_gamma": MIN_SNR_GAMMA})
    run.extra_state.update(config=dict(unet.config), condition_scale=condition_scale)
    snr = snr_per_timestep(scheduler).to(device)
    for step in run:
        set_learning_rate(optimizer, learning_rate * min(1.0, (step + 1) / WARMUP_STEPS))
        index = torch.randint(len(latents), (batch_size,), device=device)
        loss = denoising_loss(unet, scheduler, snr, flip_some(latents[index]), drop_some(embeds[index]))
        optimizer_step(unet, optimizer, ema, step, loss)
        run.log(step, loss=loss)
    return ema.model


def optimizer_step(unet, optimizer, ema: EMA, step: int, loss: torch.Tensor) -> None:
    """One optimiser step on `loss` (gradients clipped at norm 1), then the EMA weights follow."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
    optimizer.step()
    ema.update(unet, step)


def check_conditions(pack: ImagePack, conditions: np.ndarray) -> None:
    if conditions.ndim != 2 or len(conditions) != len(pack.ids):
        raise TrainingError(f"conditions must be float32 [n_images, embed_dim] with n_images={len(pack.ids)} "
                            f"(one row per image of the pack, in pack order); got shape {conditions.shape}")
    bad = np.flatnonzero(~np.isfinite(conditions).all(axis=1))
    if len(bad):
        raise TrainingError(f"conditions have non-finite values for products {pack.ids[bad[:10]].tolist()}")


def set_learning_rate(optimizer, learning_rate: float) -> None:
    """Set every group's rate; the caller computes warm-up from the step, so a resumed run continues it."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


def denoising_loss(unet, scheduler, snr: torch.Tensor, latents: torch.Tensor, embeds: torch.Tensor,
                   extra: torch.Tensor | None = None, where: torch.Tensor | None = None) -> torch.Tensor:
    """`extra`: channels put after the noisy latents (an inpainting UNet's kept latents and mask);
    `where`: [n, 1, h, w] weights of the latent pixels the loss counts (default all)."""
    noise = torch.randn_like(latents)
    timesteps = torch.randint(scheduler.config.num_train_timesteps, (len(latents),), device=latents.device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    model_input = noisy if extra is None else torch.cat([noisy, extra], dim=1)
    with autocast(latents.device):
        predicted = unet(model_input, timesteps, encoder_hidden_states=None,
                         added_cond_kwargs={"image_embeds": embeds}).sample
    predicted = predicted[:, :latents.shape[1]].float()
    v_prediction = scheduler.config.prediction_type == "v_prediction"
    target = scheduler.get_velocity(latents, noise, timesteps) if v_prediction else noise
    squared = F.mse_loss(predicted, target, reduction="none").mean(dim=1, keepdim=True)
    if where is None:
        per_sample = squared.mean(dim=(1, 2, 3))
    else:
        per_sample = (squared * where).sum(dim=(1, 2, 3)) / where.sum(dim=(1, 2, 3)).clamp(min=1.0)
    # min-SNR-gamma weighting; for a velocity target the same weighting divides by SNR + 1
    weight = snr[timesteps].clamp(max=MIN_SNR_GAMMA) / (snr[timesteps] + (1.0 if v_prediction else 0.0))
    return (per_sample * weight).mean()


def snr_per_timestep(scheduler) -> torch.Tensor:
    alphas = scheduler.alphas_cumprod
    return alphas / (1.0 - alphas)


def drop_some(embeds: torch.Tensor, probability: float = NULL_CONDITION_PROBABILITY) -> torch.Tensor:
    """Replace a random share of conditions by zeros, so the model also learns the unconditional case."""
    keep = torch.rand(len(embeds), 1, device=embeds.device) >= probability
    return embeds * keep


def flip_some(latents: torch.Tensor) -> torch.Tensor:
    """Left-right flips in latent space (the autoencoder is convolutional, so this is a flipped photo)."""
    flip = torch.rand(len(latents), device=latents.device) < 0.5
    return torch.where(flip[:, None, None, None], latents.flip(-1), latents)
