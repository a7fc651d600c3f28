"""The scene generator's training set: products over real and plain backdrops, as latents, keep masks and conditions.

Each sample is a composite the matte's data builds (imagegen.matte.data.random_batch): a catalogue product with
its pseudo-mask, pasted over a crop of a real amateur photo (clothing-photos), over a plain colour with a
gradient, or the catalogue photo itself on its studio backdrop. Its condition is what the backdrop adds in CLIP
space: the embedding of the composite minus that of the same product on white. Conditioning on the product's
own embedding would teach "white studio backdrop" for every taste (tastes are centroids of product photos);
the difference says what to add around this product, and zero means a plain white backdrop. Everything is
computed once and saved, so training steps only draw rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imagegen.matte.data import ProductSet, random_batch
from imagegen.scene.generator import latent_keep_mask
from imagegen.training.autoencoder import encode_images

SCENE_MIX = (0.2, 0.5, 0.3, 0.0)  # photo, busy, plain, empty (imagegen.matte.data.KINDS): a product is always kept
CHUNK = 256


@dataclass
class SceneSet:
    latents: torch.Tensor  # float32 [n, c, s, s]: the composite's latents
    keep: torch.Tensor  # float32 [n, 1, s, s]: 1 where the product is kept (the pipeline's own latent mask)
    conditions: torch.Tensor  # float32 [n, d]: what the backdrop adds (composite minus product on white), CLIP space
    space_id: str

    def __len__(self) -> int:
        return len(self.latents)

    def save(self, path: Path) -> None:
        np.savez(path, latents=self.latents.numpy(), keep=self.keep.numpy(), conditions=self.conditions.numpy(),
                 space_id=self.space_id)

    @classmethod
    def load(cls, path: Path) -> "SceneSet":
        with np.load(path) as stored:
            return cls(*(torch.from_numpy(stored[name]) for name in ("latents", "keep", "conditions")),
                       str(stored["space_id"]))


@torch.no_grad()
def build_scene_set(products: ProductSet, backgrounds: torch.Tensor, count: int, encoder, movq, *,
                    size: int = 64, seed: int = 0, log=print) -> SceneSet:
    """`count` composites at `size` px (the movq's input size) with their latents, keep masks and conditions."""
    generator = torch.Generator().manual_seed(seed)
    parts = []
    for start in range(0, count, CHUNK):
        images, alpha = random_batch(products, backgrounds, min(CHUNK, count - start), size=size, mix=SCENE_MIX,
                                     generator=generator)
        pixels = (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
        latents = encode_images(movq, pixels)
        keep = latent_keep_mask((alpha < 0.5).float(), latents.shape[-1])
        alone = (alpha * images + (1 - alpha)).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        added = encoder.encode_images([Image.fromarray(image) for image in pixels.numpy()], progress=False) - \
            encoder.encode_images([Image.fromarray(image) for image in alone], progress=False)
        parts.append((latents, keep, torch.from_numpy(np.asarray(added, dtype=np.float32))))
        log(f"scene set: {start + len(latents)}/{count} composites")
    latents, keep, conditions = (torch.cat(part) for part in zip(*parts))
    return SceneSet(latents, keep, conditions, encoder.space_id)
