"""Training images on the training device once, as uint8; batches are drawn there (no DataLoader)."""
from __future__ import annotations

import numpy as np
import torch

from features.image_pack import ImagePack
from imagegen.errors import TrainingError


def training_images(pack: ImagePack, device: torch.device) -> torch.Tensor:
    """The pack's non-held-out images as a uint8 NHWC tensor on `device`."""
    train = pack.select(~pack.heldout)
    if len(train.ids) == 0:
        raise TrainingError(f"image pack has no training images ({len(pack.ids)} images, all held out)")
    return torch.from_numpy(np.ascontiguousarray(train.images)).to(device)


def to_model_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC in [0, 255] -> float NCHW in [-1, 1], the range the VQ model and DCGAN use."""
    return images_uint8.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def from_model_range(images: torch.Tensor) -> torch.Tensor:
    """float NCHW in [-1, 1] -> uint8 NHWC, to_model_range's inverse (clamped, rounded)."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1)


def random_batch(images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """A random batch in [-1, 1], flipped left-right at random (product photos are near-symmetric)."""
    index = torch.randint(len(images), (batch_size,), device=images.device)
    batch = to_model_range(images[index])
    flip = torch.rand(batch_size, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], batch.flip(-1), batch)
