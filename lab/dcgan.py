"""The original design's baseline: the standard DCGAN (Radford et al. 2015) at 64x64, done right.

The source document's version had three bugs, each pinned by a test in tests/test_dcgan.py:
its generator stopped at 32x32 while the discriminator expected 64x64 (here: five transposed
convolutions, 1 -> 4 -> 8 -> 16 -> 32 -> 64); its discriminator's output did not match the label
tensor (here: one logit per image, shape [batch], as the labels); its generator step called an
undefined name (here: one `generator_step` function, exercised by a test).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from features.checks import check_fields, from_fields, whole
from features.errors import ModelSpecError
from imagegen.training.data import from_model_range

CONFIG_FILE = "dcgan_config.json"
WEIGHTS_FILE = "generator.safetensors"


@dataclass
class DCGANConfig:
    latent_dim: int = 100
    generator_width: int = 64  # ngf in the paper's code
    discriminator_width: int = 64  # ndf
    channels: int = 3
    image_size: int = 64

    def __post_init__(self):
        self.check_inputs()

    def check_inputs(self) -> None:
        check_fields(self, ModelSpecError, (
            *((name, whole(getattr(self, name), 1), "an integer >= 1")
              for name in ("latent_dim", "generator_width", "discriminator_width", "channels")),
            ("image_size", whole(self.image_size, 64) and self.image_size == 64,
             "64 (the layers are fixed: 1 -> 4 -> ... -> 64)"),
        ))


class DCGANGenerator(nn.Module):
    """z [batch, latent_dim] -> image [batch, 3, 64, 64] in [-1, 1]."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        width = config.generator_width
        self.net = nn.Sequential(
            _up(config.latent_dim, width * 8, stride=1, padding=0),  # 1 -> 4
            _up(width * 8, width * 4),  # 4 -> 8
            _up(width * 4, width * 2),  # 8 -> 16
            _up(width * 2, width),  # 16 -> 32
            nn.ConvTranspose2d(width, config.channels, 4, 2, 1, bias=False),  # 32 -> 64
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """image [batch, 3, 64, 64] -> one real/fake logit per image, shape [batch] (as the labels)."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        width = config.discriminator_width
        self.net = nn.Sequential(
            nn.Conv2d(config.channels, width, 4, 2, 1, bias=False),  # 64 -> 32, no batch norm on the input layer
            nn.LeakyReLU(0.2, inplace=True),
            _down(width, width * 2),  # 32 -> 16
            _down(width * 2, width * 4),  # 16 -> 8
            _down(width * 4, width * 8),  # 8 -> 4
            nn.Conv2d(width * 8, 1, 4, 1, 0, bias=False),  # 4 -> 1
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()  # logits; the loss applies the sigmoid (stable in bf16)


def _up(in_channels: int, out_channels: int, stride: int = 2, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, stride, padding, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(True))


def _down(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2, inplace=True))


def init_weights(module: nn.Module) -> None:
    """The paper's initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def save_dcgan_generator(generator: DCGANGenerator, folder: str | Path, dtype: torch.dtype = torch.float16) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {key: (value.to(dtype) if value.is_floating_point() else value).detach().cpu().contiguous()
             for key, value in generator.state_dict().items()}
    save_file(state, folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(asdict(generator.config), indent=2) + "\n")


def load_dcgan_generator(folder: str | Path, device: str | torch.device = "cpu") -> DCGANGenerator:
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise ModelSpecError(f"{folder}: expected a DCGAN folder with {CONFIG_FILE} and {WEIGHTS_FILE}")
    config = from_fields(DCGANConfig, json.loads((folder / CONFIG_FILE).read_text()), str(folder / CONFIG_FILE),
                           ModelSpecError)
    generator = DCGANGenerator(config)
    state = {key: value.float() if value.is_floating_point() else value
             for key, value in load_file(folder / WEIGHTS_FILE).items()}
    generator.load_state_dict(state)
    return generator.to(device).eval()


@torch.no_grad()
def sample_dcgan(generator: DCGANGenerator, count: int, seed: int = 0, batch_size: int = 256):
    """`count` images as uint8 numpy [count, 64, 64, 3]."""
    rng = torch.Generator("cpu").manual_seed(seed)
    device = next(generator.parameters()).device
    out = []
    for start in range(0, count, batch_size):
        z = torch.randn(min(batch_size, count - start), generator.config.latent_dim, generator=rng).to(device)
        out.append(from_model_range(generator(z)).cpu())
    return torch.cat(out).numpy() if out else torch.zeros(0, 64, 64, 3, dtype=torch.uint8).numpy()
