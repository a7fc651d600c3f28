"""Stage 1: the VQ autoencoder (MoVQ layout) learns 64x64 product photos <-> 4x16x16 latents.

Trained as a plain autoencoder (decoding unquantised latents, which is how the Kandinsky pipelines
decode: `movq.decode(latents, force_not_quantize=True)`). When the stage finishes, the latents are
rescaled to unit variance inside the model (so the diffusion stage sees unit-scale data, as the
pipeline applies no scaling factor) and the codebook is fitted to them by k-means, so that
quantised decoding works too.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from features.checkpoint import find_checkpoint, load_module_state, read_state
from features.image_pack import ImagePack
from features.logs import job_logger
from features.training_loop import autocast
from imagegen.components import build_movq
from imagegen.errors import TrainingError
from imagegen.training.data import random_batch, to_model_range, training_images
from imagegen.training.run import TrainingRun, prepare_device

STAGE = "autoencoder"
FINAL_DIR = "movq"  # the finished autoencoder, in diffusers' save_pretrained layout


def train_autoencoder(pack: ImagePack, out_dir: str | Path, minutes: float, device: str | torch.device = "cpu", *,
                      batch_size: int = 256, learning_rate: float = 3e-4, config: str | dict = "movq",
                      resume: bool = False, max_steps: int | None = None, log_every: int = 100,
                      checkpoint_every_s: float = 30.0, progress: bool = True, seed: int = 0):
    """Train for `minutes` (or `max_steps`), checkpointing to out_dir/autoencoder; return the finished VQModel."""
    device = prepare_device(device, seed)
    movq = build_movq(config)
    if pack.size != movq.config.sample_size:
        raise TrainingError(f"the autoencoder config is for {movq.config.sample_size}px images; "
                            f"the image pack holds {pack.size}px (build the pack with size={movq.config.sample_size})")
    return fit_autoencoder(movq, training_images(pack, device), out_dir, minutes, batch_size=batch_size,
                           learning_rate=learning_rate, resume=resume, max_steps=max_steps, log_every=log_every,
                           checkpoint_every_s=checkpoint_every_s, progress=progress,
                           hyperparameters={"batch_size": batch_size, "config": config, "seed": seed})


def fit_autoencoder(movq, images: torch.Tensor, out_dir: str | Path, minutes: float, *, batch_size: int = 256,
                    learning_rate: float = 3e-4, resume: bool = False, max_steps: int | None = None,
                    log_every: int = 100, checkpoint_every_s: float = 30.0, progress: bool = True,
                    hyperparameters: dict | None = None):
    """Train `movq` in place (new, or a trained one to fine-tune) to reconstruct `images` (uint8 NHWC, on the
    training device), checkpointing to out_dir/autoencoder; return it finished (out_dir/movq)."""
    out_dir, device = Path(out_dir), images.device
    movq = movq.to(device).train()
    optimizer = torch.optim.AdamW(movq.parameters(), lr=learning_rate, weight_decay=0.0)
    run = TrainingRun(out_dir / STAGE, {"movq": movq}, {"optimizer": optimizer}, minutes, resume=resume,
                      max_steps=max_steps, checkpoint_every_s=checkpoint_every_s, log_every=log_every,
                      progress=progress, log_file=out_dir / "train.log", hyperparameters=hyperparameters)
    # a loaded model's config also holds where it came from (a Path, not JSON); the architecture is the rest
    run.extra_state["config"] = {key: value for key, value in movq.config.items() if not key.startswith("_")}
    for step in run:
        batch = random_batch(images, batch_size)
        with autocast(device):
            latents = movq.encode(batch).latents
            decoded = movq.decode(latents, force_not_quantize=True).sample
        loss = reconstruction_loss(decoded.float(), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        run.log(step, loss=loss)
    return finish_autoencoder(movq.eval(), images, out_dir)


def reconstruction_loss(decoded: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 keeps edges sharper than MSE alone; MSE punishes the rare large colour error."""
    return F.l1_loss(decoded, target) + F.mse_loss(decoded, target)


@torch.no_grad()
def finish_autoencoder(movq, images: torch.Tensor, out_dir: Path, kmeans_iterations: int = 10):
    """Unit-variance latents and a fitted codebook, then save as out_dir/movq (save_pretrained)."""
    latents = encode_images(movq, images)
    scale = float(latents.std())
    rescale_latents(movq, scale)
    fit_codebook(movq, latents / scale, kmeans_iterations)
    movq.save_pretrained(out_dir / FINAL_DIR)
    (out_dir / FINAL_DIR / "latent_stats.json").write_text(json.dumps({"std_before_rescale": scale}, indent=2))
    job_logger(out_dir / "train.log").info(f"{STAGE}: latent std {scale:.4f} folded into the model; "
                                                f"saved {out_dir / FINAL_DIR}")
    return movq


@torch.no_grad()
def encode_images(movq, images_uint8: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Latents of every image (float32, on the images' device)."""
    device = images_uint8.device
    chunks = []
    for start in range(0, len(images_uint8), batch_size):
        with autocast(device):
            chunks.append(movq.encode(to_model_range(images_uint8[start:start + batch_size])).latents.float())
    return torch.cat(chunks)


@torch.no_grad()
def rescale_latents(movq, scale: float) -> None:
    """Make the model's latents `scale` times smaller without changing what it decodes.

    encode ends in quant_conv (divide its output); decoding starts with post_quant_conv and, with
    spatial norm, 1x1 convolutions reading the latents (multiply their weights); the codebook
    lives in latent units (divide it).
    """
    movq.quant_conv.weight.div_(scale)
    movq.quant_conv.bias.div_(scale)
    movq.quantize.embedding.weight.div_(scale)
    movq.post_quant_conv.weight.mul_(scale)
    for module in movq.decoder.modules():
        if type(module).__name__ == "SpatialNorm":
            module.conv_y.weight.mul_(scale)
            module.conv_b.weight.mul_(scale)


@torch.no_grad()
def fit_codebook(movq, latents: torch.Tensor, iterations: int, max_vectors: int = 50_000) -> None:
    """k-means of latent vectors (one per latent pixel) into the codebook, so quantising is sensible."""
    vectors = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    vectors = vectors[torch.randperm(len(vectors), device=vectors.device)[:max_vectors]]
    codebook = movq.quantize.embedding.weight
    centres = vectors[torch.randint(len(vectors), (codebook.shape[0],), device=vectors.device)].clone()
    for _ in range(iterations):
        nearest = torch.cdist(vectors, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, nearest, vectors)
        counts = torch.bincount(nearest, minlength=len(centres)).unsqueeze(1)
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
    codebook.copy_(centres.to(codebook.dtype))


def load_trained_movq(out_dir: Path, pack_images: torch.Tensor | None = None):
    """The finished autoencoder of a training folder; finishes one from its checkpoint if the stage was cut short."""
    from diffusers import VQModel
    final = Path(out_dir) / FINAL_DIR
    if (final / "config.json").is_file():
        return VQModel.from_pretrained(final)
    checkpoint = find_checkpoint(Path(out_dir) / STAGE / "checkpoint")
    if checkpoint is None or pack_images is None:
        raise TrainingError(f"{out_dir}: no finished autoencoder ({final}) and no checkpoint to finish; "
                                "run the autoencoder stage first")
    movq = build_movq(read_state(checkpoint)["extra"]["config"])
    movq.load_state_dict(load_module_state(checkpoint, "movq"))
    return finish_autoencoder(movq.to(pack_images.device).eval(), pack_images, Path(out_dir))
