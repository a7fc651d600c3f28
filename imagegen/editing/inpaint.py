"""Background repair and replacement by inpainting, RePaint-style, with the generator's own UNet.

The UNet is not mask-conditioned, so the mask enters by latent blending (Lugmayr et al., RePaint,
2022): after every denoising step, latent cells of the product are replaced by the photo's own
latents noised to the next step's level, so the redrawn background grows around the real product.
The decoder still blurs the edge a little, so the final image is composited in pixel space at the
photo's own resolution: every product pixel is the input's, bit for bit.

    repair_background(generator, photo, product_embedding)                  # strength 0.5: clean it up
    replace_background(generator, photo, product_embedding, scene_embedding)  # a new backdrop
"""
from __future__ import annotations

import numpy as np
import torch
from diffusers import KandinskyV22Img2ImgPipeline
from PIL import Image

from features.images import pad_to_square
from features.vectors import unit_rows
from imagegen.components import build_sampler
from imagegen.editing.masks import background_mask, latent_mask
from imagegen.pipeline import to_uint8
from imagegen.variants.slerp import slerp


def repair_background(generator, photo: Image.Image, product_embedding: np.ndarray, *, strength: float = 0.5,
                      seed: int = 0, num_inference_steps: int | None = None) -> np.ndarray:
    """The background redrawn from the photo's own (partly noised) background, conditioned on the product."""
    return inpaint_background(generator, photo, unit_rows(product_embedding)[0], strength=strength, seed=seed,
                              num_inference_steps=num_inference_steps)


def replace_background(generator, photo: Image.Image, product_embedding: np.ndarray, scene_embedding: np.ndarray, *,
                       weight: float = 0.5, seed: int = 0, num_inference_steps: int | None = None) -> np.ndarray:
    """A new background, conditioned on slerp(product, scene, weight) (the scene: e.g. a style photo's embedding)."""
    return inpaint_background(generator, photo, slerp(product_embedding, scene_embedding, weight)[0], strength=1.0,
                              seed=seed, num_inference_steps=num_inference_steps)


def inpaint_background(generator, photo: Image.Image, condition: np.ndarray, *, strength: float = 1.0, seed: int = 0,
                       num_inference_steps: int | None = None, guidance_scale: float | None = None) -> np.ndarray:
    """uint8 [side, side, 3] at the padded photo's resolution; only white-background pixels may differ."""
    original = np.asarray(pad_to_square(photo))
    background = background_mask(original)
    if not background.any():  # nothing to redraw: a photo without a white backdrop
        return original.copy()
    size = generator.settings.image_size
    drawn = _redraw_masked(generator, pad_to_square(photo, size), background, condition, strength, seed,
                           num_inference_steps, guidance_scale)
    drawn = np.asarray(Image.fromarray(drawn).resize(original.shape[1::-1], Image.Resampling.BICUBIC))
    return composite(original, drawn, background)


def composite(original: np.ndarray, drawn: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Drawn pixels on the background, the original's everywhere else (exactly)."""
    return np.where(background[..., None], drawn, original)


@torch.no_grad()
def _redraw_masked(generator, photo: Image.Image, background: np.ndarray, condition: np.ndarray, strength: float,
                   seed: int, num_inference_steps: int | None, guidance_scale: float | None) -> np.ndarray:
    # DDIM, not the default multistep sampler: blending rewrites the latents between steps, which a
    # multistep solver's history of past predictions would not expect.
    pipe = KandinskyV22Img2ImgPipeline(unet=generator.unet, movq=generator.movq,
                                       scheduler=build_sampler(generator.training_scheduler, "ddim"))
    pipe.set_progress_bar_config(disable=True)
    size = generator.settings.image_size
    pixels = pipe.image_processor.preprocess(photo, size, size).to(generator.device, generator.unet.dtype)
    known = generator.movq.encode(pixels)["latents"]
    redraw = latent_mask(background, known.shape[-1]).to(known)
    noise = torch.Generator("cpu").manual_seed(seed + 1)  # blending noise, apart from the sampler's own

    def keep_product(pipeline, step, timestep, tensors):
        timesteps = pipeline.scheduler.timesteps
        later = timesteps[timesteps < timestep]
        kept = known if len(later) == 0 else pipeline.scheduler.add_noise(
            known, torch.randn(known.shape, generator=noise).to(known), later[:1])
        return {"latents": redraw * tensors["latents"] + (1 - redraw) * kept}

    embeds = generator.embeds(np.atleast_2d(condition))
    images = pipe(image_embeds=embeds, negative_image_embeds=torch.zeros_like(embeds), image=photo, height=size,
                  width=size, strength=strength,
                  num_inference_steps=num_inference_steps or generator.settings.num_inference_steps,
                  guidance_scale=generator.settings.guidance_scale if guidance_scale is None else guidance_scale,
                  generator=torch.Generator("cpu").manual_seed(seed), output_type="np",
                  callback_on_step_end=keep_product).images
    return to_uint8([images], size)[0]
