"""The Kandinsky 2.2 decoder's parts, built from JSON configs (constructor kwargs, as diffusers saves them).

    movq        VQModel (MoVQ-style, spatial norm): 64x64 RGB <-> 4x16x16 latents
    unet        UNet2DConditionModel conditioned on a CLIP image embedding through `image_proj`
                (32 cross-attention tokens) and `addition_embed_type="image"` (added to the time embedding)
    scheduler   DDPM noise schedule for training; sampled with DPM-Solver++ (or DDIM)

`out_channels` of the UNet is twice the latent channels, as in Kandinsky (mean and learned variance),
so the diffusers pipelines run unchanged; our samplers use only the first half.
"""
from __future__ import annotations

import json
from pathlib import Path

from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel, VQModel

from features.errors import ModelSpecError

CONFIG_DIR = Path(__file__).parent / "configs"
SAMPLERS = {"dpm++": DPMSolverMultistepScheduler, "ddim": DDIMScheduler, "ddpm": DDPMScheduler}


def load_config(name: str) -> dict:
    """A config by name from imagegen/configs (e.g. 'unet', 'movq-tiny'), or a path to a JSON file."""
    path = Path(name) if name.endswith(".json") else CONFIG_DIR / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
        raise ModelSpecError(f"no generator config {name!r}; expected a JSON file or one of {known}")
    return json.loads(path.read_text())


def build_movq(config: str | dict = "movq") -> VQModel:
    return VQModel(**_kwargs(config))


def build_unet(config: str | dict = "unet", embed_dim: int | None = None) -> UNet2DConditionModel:
    """The denoiser; `embed_dim` overrides the condition width to match the encoder it is trained with."""
    kwargs = _kwargs(config)
    if embed_dim is not None:
        kwargs["encoder_hid_dim"] = int(embed_dim)
    return UNet2DConditionModel(**kwargs)


def build_training_scheduler(config: str | dict = "scheduler") -> DDPMScheduler:
    return DDPMScheduler(**_kwargs(config))


def build_sampler(training_scheduler, sampler: str = "dpm++"):
    """A fast sampler with the training noise schedule. Learned variance is never used by our samplers."""
    if sampler not in SAMPLERS:
        raise ModelSpecError(f"unknown sampler {sampler!r}; expected one of {sorted(SAMPLERS)}")
    # the spacing named explicitly: from_config would otherwise give a fresh scheduler the sampler's own default
    # but a saved-and-loaded one the training scheduler's, so a model would sample differently after a round trip
    overrides = {"timestep_spacing": training_scheduler.config.timestep_spacing}
    if sampler != "ddpm":
        overrides["variance_type"] = None
    if sampler == "dpm++":
        overrides["algorithm_type"] = "dpmsolver++"
    return SAMPLERS[sampler].from_config(training_scheduler.config, **overrides)


def _kwargs(config: str | dict) -> dict:
    """Constructor kwargs from a config name or dict (a saved config's '_class_name' etc. dropped)."""
    config = load_config(config) if isinstance(config, str) else config
    return {key: value for key, value in config.items() if not key.startswith("_")}
