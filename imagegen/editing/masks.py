"""Which pixels of a product photo are its white studio background (and so free to redraw).

Background is near-white *and* connected to the image border: the white of a white shirt, or a
white logo inside the product, is enclosed by product pixels and stays product.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from imagegen.colour import foreground_mask


def background_mask(image: np.ndarray) -> np.ndarray:
    """bool [h, w]: True on the photo's white background."""
    white = ~foreground_mask(image)
    regions, _ = ndimage.label(white)
    on_border = np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))
    return np.isin(regions, on_border[on_border > 0])


def latent_mask(background: np.ndarray, latent_size: int) -> torch.Tensor:
    """[1, 1, s, s] float: 1 where a latent cell is mostly background (redrawn), 0 where mostly product (kept)."""
    share = torch.from_numpy(background.astype(np.float32))[None, None]
    share = torch.nn.functional.adaptive_avg_pool2d(share, latent_size)
    return (share >= 0.5).float()
