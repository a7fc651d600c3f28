"""Assemble a training folder's finished stages into the shipped generator folder."""
from __future__ import annotations

from pathlib import Path

from features.checkpoint import find_checkpoint, load_module_state, read_state
from imagegen.components import build_training_scheduler, build_unet
from imagegen.errors import TrainingError
from imagegen.pipeline import Generator, GeneratorSettings
from imagegen.training import autoencoder, unet as unet_stage


def save_generator(train_dir: str | Path, dest: str | Path, space_id: str, **settings) -> Generator:
    """Write `dest` (e.g. data/models/embedded-generator) from train_dir's autoencoder and EMA UNet.

    Works from the last checkpoint, so a run cut short still ships. `settings` override the sampling
    defaults of GeneratorSettings (sampler, num_inference_steps, guidance_scale).
    """
    train_dir = Path(train_dir)
    movq = autoencoder.load_trained_movq(train_dir)
    checkpoint = find_checkpoint(train_dir / unet_stage.STAGE / "checkpoint")
    if checkpoint is None:
        raise TrainingError(f"{train_dir}: no UNet checkpoint; run the UNet stage first")
    state = read_state(checkpoint)["extra"]
    unet = build_unet(state["config"])
    unet.load_state_dict(load_module_state(checkpoint, "ema_unet"))
    generator_settings = GeneratorSettings(space_id=space_id, embed_dim=int(unet.config.encoder_hid_dim),
                                           condition_scale=float(state["condition_scale"]),
                                           image_size=int(movq.config.sample_size), **settings)
    generator = Generator(unet, movq, build_training_scheduler(), generator_settings, device="cpu")
    generator.save(dest)
    return generator
