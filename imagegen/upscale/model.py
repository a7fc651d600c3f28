"""The 4x upscaler: a small convolutional net at the low resolution that predicts a residual over the bicubic
upsample (ESPCN-style: 3x3 convolutions, then PixelShuffle(4) for the residual).

The config is the constructor's kwargs, saved as config.json beside model.safetensors (diffusers-style); a
config with a field this version does not know is refused by name. The residual head starts at zero, so an
untrained model is exactly the bicubic upsample it improves on.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from features.checks import check_fields, whole
from features.errors import ModelSpecError
from imagegen.weights import load_model, save_model

SCALE = 4
PIXEL_MEAN, PIXEL_STD = 0.5, 0.25  # inputs in [0, 1] are centred so the first layer starts balanced


@dataclass
class UpscalerConfig:
    width: int = 48  # channels of every hidden layer (at the low resolution)
    layers: int = 8  # 3x3 convolutions with a ReLU before the residual head (the receptive field grows by one each)

    def __post_init__(self):
        self.check_inputs()

    def check_inputs(self) -> None:
        check_fields(self, ModelSpecError, (
            ("width", whole(self.width, 1) and self.width <= 256, "a channel count in [1, 256]"),
            ("layers", whole(self.layers, 1) and self.layers <= 32, "a layer count in [1, 32]"),
        ))

    @property
    def reach(self) -> int:
        """Low-resolution pixels on each side that an output pixel's residual depends on (tiles need this margin)."""
        return self.layers + 1


class Upscaler(nn.Module):
    """lr [batch, 3, h, w] in [0, 1] (and optionally its bicubic upsample `base` [batch, 3, 4h, 4w]) ->
    the 4x image [batch, 3, 4h, 4w], base + predicted residual (not clipped).

    Without `base` the upsample is computed here with PIL's bicubic weights in float; callers that want the
    output to equal PIL's 8-bit bicubic exactly when the residual is zero (imagegen.upscale.apply) pass PIL's."""

    def __init__(self, config: UpscalerConfig | None = None):
        super().__init__()
        self.config = config = config or UpscalerConfig()
        body: list[nn.Module] = []
        for i in range(config.layers):
            body += [nn.Conv2d(3 if i == 0 else config.width, config.width, 3, padding=1), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*body)
        self.head = nn.Conv2d(config.width, 3 * SCALE * SCALE, 3, padding=1)
        self.shuffle = nn.PixelShuffle(SCALE)
        for layer in self.body:  # He init: torch's default shrinks the signal ~2x per layer, so deep stacks start dead
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def check_inputs(self, lr: torch.Tensor, base: torch.Tensor | None) -> None:
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise ValueError(f"expected lr images [batch, 3, h, w]; got shape {tuple(lr.shape)}")
        wanted = (lr.shape[0], 3, lr.shape[2] * SCALE, lr.shape[3] * SCALE)
        if base is not None and tuple(base.shape) != wanted:
            raise ValueError(f"expected base of shape {wanted} (lr upsampled {SCALE}x); got {tuple(base.shape)}")

    def forward(self, lr: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(lr, base)
        if base is None:
            base = bicubic_upsample(lr, SCALE)
        return base + self.residual(lr)

    def residual(self, lr: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.head(self.body((lr - PIXEL_MEAN) / PIXEL_STD)))


def model_version(model: Upscaler) -> str:
    """A short hash of the config and weights: the same weights give the same version in any process."""
    digest = hashlib.sha256(json.dumps(asdict(model.config), sort_keys=True).encode())
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def pil_bicubic_weights(in_size: int, out_size: int) -> torch.Tensor:
    """[out_size, in_size]: PIL's bicubic (a = -0.5) resampling weights for enlarging, edges renormalised as PIL
    does (Resample.c precompute_coeffs)."""
    if out_size < in_size:
        raise ValueError(f"enlarging only: {in_size} -> {out_size}")
    scale = in_size / out_size
    weights = torch.zeros(out_size, in_size, dtype=torch.float64)
    for out in range(out_size):
        centre = (out + 0.5) * scale
        low, high = max(math.trunc(centre - 2 + 0.5), 0), min(math.trunc(centre + 2 + 0.5), in_size)
        for source in range(low, high):
            weights[out, source] = _cubic(source - centre + 0.5)
        weights[out] /= weights[out].sum()
    return weights.float()


def _cubic(x: float, a: float = -0.5) -> float:
    x = abs(x)
    if x < 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def bicubic_upsample(images: torch.Tensor, scale: int) -> torch.Tensor:
    """PIL-style bicubic enlargement of [batch, c, h, w] in float (PIL rounds to 8 bits between its two passes)."""
    height, width = images.shape[-2:]
    rows = pil_bicubic_weights(height, height * scale).to(images)
    columns = pil_bicubic_weights(width, width * scale).to(images)
    return rows @ images @ columns.T


def save_upscaler(model: Upscaler, folder: str | Path) -> None:
    save_model(model, folder)


def load_upscaler(folder: str | Path, device: str | torch.device = "cpu") -> Upscaler:
    return load_model(Upscaler, UpscalerConfig, folder, "`tailorcard train-upscaler`", device)
