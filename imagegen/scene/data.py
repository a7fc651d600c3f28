"""The scene generator's training set: products over real and plain backdrops, as latents (of the composite and of
its backdrop alone), keep masks and conditions.

Each sample is a composite the matte's data builds (imagegen.matte.data.random_composites): a catalogue product with
its pseudo-mask, pasted over a crop of a real amateur photo (clothing-photos), over a plain colour with a
gradient, or the catalogue photo itself on its studio backdrop. The real backdrops are product-free: the
photos' top corners, not their centres (SCENE_BACKGROUNDS). Its condition is what the backdrop adds in CLIP
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

from imagegen.matte.data import ProductSet, random_composites
from imagegen.scene.generator import latent_keep_mask
from imagegen.training.autoencoder import encode_images

SCENE_MIX = (0.15, 0.35, 0.5, 0.0)  # photo, busy, plain, empty (imagegen.matte.data.KINDS): a product is always kept
SCENE_NEAR_WHITE = 0.2  # of the plain backdrops; the rest are any colour
# Plain colours are two in five samples: with one in seven (0.3 plain, half near-white) the generator painted
# textures and hardly any light or saturated colour (data/models/embedded-scene/MODEL_CARD.md, "Limits").
# Busy backdrops come from the photos' top corners (floor, bed, wall). Trained on their centre squares, where each
# photo's own garment is, the generator learnt to paint a garment-like blob behind the product: hidden behind a
# shirt, but a stain beside a thin tie, and a thing the store may not sell.
SCENE_BACKGROUNDS = "top-corners"
CHUNK = 256


@dataclass
class SceneSet:
    latents: torch.Tensor  # float32 [n, c, s, s]: the composite's latents
    keep: torch.Tensor  # float32 [n, 1, s, s]: 1 where the product is kept (the pipeline's own latent mask)
    conditions: torch.Tensor  # float32 [n, d]: what the backdrop adds (composite minus product on white), CLIP space
    space_id: str
    backdrops: torch.Tensor  # float32 [n, c, s, s]: the latents of the backdrop alone, without the product

    def targets(self, index: torch.Tensor) -> torch.Tensor:
        """What the UNet learns to paint: the kept latents, and the backdrop alone wherever it paints. The keep
        mask leaves out a thin product's latents (a tie is a latent cell wide); trained on the composite there,
        the generator learnt to paint a product-coloured blob beside the product (a dark smear by a navy tie)."""
        keep = self.keep[index]
        return keep * self.latents[index] + (1 - keep) * self.backdrops[index]

    def __len__(self) -> int:
        return len(self.latents)

    def save(self, path: Path) -> None:
        np.savez(path, latents=self.latents.numpy(), keep=self.keep.numpy(), conditions=self.conditions.numpy(),
                 space_id=self.space_id, backdrops=self.backdrops.numpy())

    @classmethod
    def load(cls, path: Path) -> "SceneSet":
        with np.load(path) as stored:
            latents, keep, conditions, backdrops = (torch.from_numpy(stored[name]) for name in
                                                    ("latents", "keep", "conditions", "backdrops"))
            return cls(latents, keep, conditions, str(stored["space_id"]), backdrops)


@torch.no_grad()
def build_scene_set(products: ProductSet, backgrounds: torch.Tensor, count: int, encoder, movq, *,
                    size: int = 64, seed: int = 0, log=print) -> SceneSet:
    """`count` composites at `size` px (the movq's input size) with their latents, keep masks and conditions."""
    parts = []
    for images, alpha, backdrops in scene_composites(products, backgrounds, count, size, seed):
        pixels = uint8_images(images)
        latents, backdrop_latents = encode_images(movq, pixels), encode_images(movq, uint8_images(backdrops))
        keep = latent_keep_mask((alpha < 0.5).float(), latents.shape[-1])
        alone = uint8_images(alpha * images + (1 - alpha)).numpy()
        added = encoder.encode_images([Image.fromarray(image) for image in pixels.numpy()], progress=False) - \
            encoder.encode_images([Image.fromarray(image) for image in alone], progress=False)
        parts.append((latents, keep, torch.from_numpy(np.asarray(added, dtype=np.float32)), backdrop_latents))
        log(f"scene set: {sum(len(part[0]) for part in parts)}/{count} composites")
    latents, keep, conditions, backdrops = (torch.cat(part) for part in zip(*parts))
    return SceneSet(latents, keep, conditions, encoder.space_id, backdrops)


def scene_composites(products: ProductSet, backgrounds: torch.Tensor, count: int, size: int, seed: int):
    """`count` composites of the scene mix (imagegen.matte.data.random_composites: images, alpha, backdrops alone),
    CHUNK at a time, the same for the same seed."""
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, count, CHUNK):
        yield random_composites(products, backgrounds, min(CHUNK, count - start), size=size, mix=SCENE_MIX,
                                generator=generator, near_white=SCENE_NEAR_WHITE)


def uint8_images(images: torch.Tensor) -> torch.Tensor:
    """float [n, 3, h, w] in [0, 1] -> uint8 [n, h, w, 3], as the movq and the encoder take them."""
    return (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def scene_mix_tag() -> str:
    """Names the composites' mix in a cached set's file name, so a changed mix is built afresh."""
    photo, busy, plain, _ = SCENE_MIX
    return f"mix{photo:g}-{busy:g}-{plain:g}-white{SCENE_NEAR_WHITE:g}"
