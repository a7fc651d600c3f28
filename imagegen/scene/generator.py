"""The scene generator: a Kandinsky 2.2 *inpainting* decoder that paints the backdrop around a kept product.

    scenes = load_scene_generator("embedded")
    scenes.check_encoder(encoder)                               # its condition space is the encoder's
    backdrops = scenes.paint(squares, repaint, centroids, seed=0)  # uint8 [n, 64, 64, 3]

`squares` are product photos padded to squares at the generator's size, `repaint` is True where the backdrop
goes (everything the matte did not keep), and each condition row is a taste segment's centroid in CLIP space.
The UNet takes Kandinsky's inpainting layout (noisy latents, the kept image's latents, the keep mask: 9
channels), so a real `kandinsky-2-2-decoder-inpaint` folder drops in with `local-dir:` (and its ViT-bigG-14
encoder). The painted square is only a backdrop: the product's own pixels are put back over it afterwards
(imagegen.scene.present), because inpainting alters pixels outside its mask too (diffusers #4782).
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import KandinskyV22InpaintPipeline

from imagegen.pipeline import Decoder, GeneratorSettings, load_decoder_parts, scaled_conditions, to_uint8
from imagegen.scene.bank import (backdrop_styles, backdrops_like, check_bank, load_bank, nearest_backdrops, save_bank,
                                 style_centres)
from imagegen.spec import parse_generator_spec


AIMS = ("point", "added")  # what a condition target is: where the card should land, or what its backdrop should add


class SceneGenerator(Decoder):
    """Paints the backdrop around kept products (one inpainting pipeline), toward a condition row each."""
    pipeline_class = KandinskyV22InpaintPipeline

    def __init__(self, unet, movq, training_scheduler, settings: GeneratorSettings, name: str = "scene generator",
                 device: str | torch.device | None = None, condition_bank: np.ndarray | None = None):
        """`condition_bank`: what each training backdrop added, [n, embed_dim] (imagegen.scene.bank); None: the
        condition is the way from the product to the target alone (a real Kandinsky decoder has no bank)."""
        if unet.config.in_channels != 2 * movq.config.latent_channels + 1:
            raise ValueError(f"{name}: an inpainting UNet takes {2 * movq.config.latent_channels + 1} channels "
                             f"(latents, kept latents, mask); got in_channels={unet.config.in_channels}")
        super().__init__(unet, movq, training_scheduler, settings, name, device)
        self.condition_bank = None if condition_bank is None else check_bank(condition_bank, settings, name)

    def condition_for(self, target: np.ndarray, product: np.ndarray) -> np.ndarray:
        """The condition row that paints toward `target` (a unit taste or steered point) around a product whose own
        embedding is `product`: for a generator trained on what backdrops add, the way from the product to the
        target at the typical length of an added backdrop (zero when they coincide: a plain backdrop)."""
        target = np.asarray(target, dtype=np.float32)
        if self.settings.conditioning != "added":
            return target
        way = target - np.asarray(product, dtype=np.float32)
        length = float(np.linalg.norm(way))
        return way * (self.settings.added_norm / length) if length > 1e-6 else np.zeros_like(way)

    def condition_candidates(self, target: np.ndarray, product: np.ndarray, count: int,
                             style: int | None = None, aim: str = "point") -> np.ndarray:
        """Up to `count` condition rows worth painting around a product embedded as `product`. `aim` says what
        `target` is: "point", where the card should land (a taste centroid): the bank's backdrops that would bring
        the card nearest it; "added", what the backdrop should add (a direction results fitted,
        steering.fitted_direction): the bank's backdrops most like it. Of `style` only, when given. Without a bank,
        the one way-based row (no styles: `style` is then ignored)."""
        if aim not in AIMS:
            raise ValueError(f"{self.name}: aim must be one of {list(AIMS)}; got {aim!r}")
        target = np.asarray(target, dtype=np.float32)
        if not target.any():
            return target[None]  # the unconditional backdrop
        if aim == "added":  # the point it names for this product: the product plus that much backdrop
            if self.condition_bank is not None and self.settings.conditioning == "added":
                return backdrops_like(self.condition_bank, target, count, self._style_rows(style))
            target = product + target * self.settings.added_norm / np.linalg.norm(target)
            target = target / np.linalg.norm(target)
        if self.condition_bank is None or self.settings.conditioning != "added":
            return self.condition_for(target, product)[None]
        return nearest_backdrops(self.condition_bank, target, product, count, self._style_rows(style))

    def _style_rows(self, style: int | None) -> np.ndarray | None:
        """The bank rows of `style` (a bank with fewer styles wraps), None: every row."""
        return None if style is None else self.styles == style % (int(self.styles.max()) + 1)

    @cached_property
    def styles(self) -> np.ndarray:
        """The bank's rows' scene styles (imagegen.scene.bank.backdrop_styles), computed once."""
        return backdrop_styles(self.condition_bank)

    @cached_property
    def style_centres(self) -> np.ndarray | None:
        """Each style's mean direction [styles, d] (what steering ranks styles by); None without a bank."""
        if self.condition_bank is None or self.settings.conditioning != "added":
            return None
        return style_centres(self.condition_bank, self.styles)

    def paint(self, squares: np.ndarray, repaint: np.ndarray, embeddings: np.ndarray, *, seed: int = 0,
              guidance_scale: float | None = None, num_inference_steps: int | None = None) -> np.ndarray:
        """One backdrop per row: uint8 [n, size, size, 3]. Rows with the same seed start from the same noise,
        so two conditions are compared on equal terms; a zero condition row is the unconditional backdrop."""
        squares, repaint = self.check_inputs(squares, repaint)
        embeds = scaled_conditions(embeddings, self.settings, self.unet, self.name)
        if len(embeds) != len(squares):
            raise ValueError(f"{self.name}: expected one condition per square; got {len(embeds)} for {len(squares)}")
        size = self.settings.image_size
        # one image per call: diffusers' inpainting pipeline re-imposes the *first* image's kept latents
        return to_uint8([self.pipeline(
            image_embeds=embeds[i:i + 1], negative_image_embeds=torch.zeros_like(embeds[i:i + 1]),
            image=torch.from_numpy(np.array(squares[i])).permute(2, 0, 1)[None].float() / 127.5 - 1.0,
            mask_image=torch.from_numpy(repaint[i].astype(np.float32))[None, None],
            height=size, width=size, output_type="np",
            num_inference_steps=num_inference_steps or self.settings.num_inference_steps,
            guidance_scale=self.settings.guidance_scale if guidance_scale is None else guidance_scale,
            generator=torch.Generator("cpu").manual_seed(seed)).images for i in range(len(squares))], size)

    def save(self, folder: str | Path, dtype: torch.dtype = torch.float16) -> None:
        super().save(folder, dtype)
        save_bank(folder, self.condition_bank)

    def check_inputs(self, squares, repaint) -> tuple[np.ndarray, np.ndarray]:
        size = self.settings.image_size
        squares, repaint = np.asarray(squares), np.asarray(repaint)
        if squares.ndim != 4 or squares.shape[1:] != (size, size, 3) or squares.dtype != np.uint8:
            raise ValueError(f"{self.name}: expected squares as uint8 [n, {size}, {size}, 3]; "
                             f"got {squares.dtype} {squares.shape}")
        if repaint.shape != squares.shape[:3] or repaint.dtype != bool:
            raise ValueError(f"{self.name}: expected a bool repaint mask [n, {size}, {size}] (True: paint there); "
                             f"got {repaint.dtype} {repaint.shape}")
        return squares, repaint


def load_scene_generator(spec: str = "embedded", device: str | torch.device | None = None) -> SceneGenerator:
    """The scene generator a spec names ('embedded': data/models/embedded-scene; 'local-dir:PATH')."""
    unet, movq, scheduler, settings, name = load_decoder_parts(spec, "scene")
    return SceneGenerator(unet, movq, scheduler, settings, name=f"scene {name}", device=device,
                          condition_bank=load_bank(parse_generator_spec(spec, "scene").folder))


def latent_keep_mask(repaint: torch.Tensor, latent_size: int) -> torch.Tensor:
    """The keep mask at latent size exactly as KandinskyV22InpaintPipeline builds it (1: keep): nearest
    resize of the kept pixels, then its prepare_mask, which clears every kept pixel next to a repainted one
    (six neighbours: the anti-diagonal corners are not cleared), so training sees what sampling gives.
    `repaint`: float [n, 1, h, w], 1 where the backdrop goes."""
    keep = F.interpolate(1.0 - (repaint >= 0.5).float(), size=(latent_size, latent_size), mode="nearest")
    repainted_neighbours = F.conv2d(1.0 - keep, _PREPARE_MASK_NEIGHBOURS, padding=1)
    return keep * (repainted_neighbours == 0)


_PREPARE_MASK_NEIGHBOURS = torch.tensor([[[[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]]])
