"""The matting network: a small U-Net that maps a photo to its product's alpha.

The config is the constructor's kwargs, saved as config.json beside model.safetensors (diffusers-style); a
config with a field this version does not know is refused by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from features.checks import check_fields, whole
from features.errors import ModelSpecError
from imagegen.weights import load_model, save_model

# Inputs are scaled with the mean and spread of product photos' pixels, so the first layer starts balanced.
PIXEL_MEAN, PIXEL_STD = 0.75, 0.3


@dataclass
class MatteConfig:
    widths: tuple[int, ...] = (8, 16, 32, 64, 128)  # channels at full, 1/2, 1/4, ... resolution
    working_size: int = 80  # photos with a longer side above this are scaled down to it before the network

    def __post_init__(self):
        self.widths = tuple(self.widths) if isinstance(self.widths, (list, tuple)) else self.widths
        self.check_inputs()

    def check_inputs(self) -> None:
        check_fields(self, ModelSpecError, (
            ("widths", isinstance(self.widths, tuple) and len(self.widths) >= 2
             and all(whole(width, 1) for width in self.widths), "a list of at least two channel counts >= 1"),
            ("working_size", whole(self.working_size, self.multiple) and self.working_size % self.multiple == 0,
             f"a positive multiple of {self.multiple} (the network halves the size {len(self.widths) - 1} times)"),
        ))

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** (len(self.widths) - 1) if isinstance(self.widths, tuple) else 1


class MatteNet(nn.Module):
    """images [batch, 3, h, w] in [0, 1] (h, w multiples of config.multiple) -> alpha logits [batch, 1, h, w]."""

    def __init__(self, config: MatteConfig):
        super().__init__()
        self.config = config
        widths = config.widths
        self.stem = _conv(3, widths[0])
        self.down = nn.ModuleList(
            nn.Sequential(_conv(widths[i], widths[i + 1], stride=2), _conv(widths[i + 1], widths[i + 1]))
            for i in range(len(widths) - 1))
        self.up = nn.ModuleList(nn.Sequential(_conv(widths[i + 1] + widths[i], widths[i]), _conv(widths[i], widths[i]))
                                for i in reversed(range(len(widths) - 1)))
        self.head = nn.Conv2d(widths[0], 1, 3, padding=1)

    def check_inputs(self, images: torch.Tensor) -> None:
        multiple = self.config.multiple
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] % multiple or images.shape[3] % multiple:
            raise ValueError(f"expected images [batch, 3, h, w] with h and w multiples of {multiple}; "
                             f"got shape {tuple(images.shape)}")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_inputs(images)
        x = self.stem((images - PIXEL_MEAN) / PIXEL_STD)
        skips = [x]
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def save_matte_model(model: MatteNet, folder: str | Path) -> None:
    save_model(model, folder)


def load_matte_model(folder: str | Path, device: str | torch.device = "cpu") -> MatteNet:
    return load_model(MatteNet, MatteConfig, folder, "`tailorcard train-matte`", device)
