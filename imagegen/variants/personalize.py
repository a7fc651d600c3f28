"""A product photo redrawn toward a taste, or the photo itself if no redraw is still the product.

    variant = personalize(generator, judge, photo, taste_vector, VariantParams(strength=0.5, taste_weight=0.5))
    variant.generated      # False: serve the original photo (no candidate passed the fidelity gate)

Each of `params.candidates` seeds is an img2img redraw of the photo conditioned on
slerp(product embedding, taste, taste_weight), applied to the photo as a residual by default
(see draw_candidates); the gate (see gate.py) picks one or none.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from features.images import pad_to_square
from features.vectors import unit_rows
from imagegen.colour import delta_e, dominant_colour, reference_colour
from imagegen.variants.errors import VariantError
from imagegen.variants.gate import CandidateScore, best_candidate, score_candidates
from imagegen.variants.judge import Judge
from imagegen.variants.params import VariantParams
from imagegen.variants.slerp import slerp


@dataclass
class Variant:
    image: np.ndarray  # uint8 [size, size, 3]: the chosen candidate, or the original photo at that size
    generated: bool
    seed: int | None  # the chosen candidate's seed: draw_candidates with params.seed = seed redraws it
    scores: list[CandidateScore]  # every candidate's, in seed order
    original_type: str  # the zero-shot article type of the photo (the reference when no product type is given)
    params: VariantParams

    @property
    def chosen(self) -> CandidateScore | None:
        return self.scores[self.seed - self.params.seed] if self.generated else None


def personalize(generator, judge: Judge, photo: Image.Image, taste: np.ndarray,
                params: VariantParams = VariantParams(), product_type: str | None = None,
                colour: np.ndarray | None = None) -> Variant:
    """The best gated redraw of `photo` toward `taste` (a unit vector in the judge's space).

    Every candidate must be judged of `product_type` (the catalogue's article type) when it is given:
    a judge that misreads the photo itself cannot vouch that a redraw kept the product, so such a
    photo keeps its original. Without it, the photo's own zero-shot type is the reference.
    `colour` (Lab, see wanted_colour): with `params.colour_gate`, a variant meant to lean to it must
    have come closer to it than the photo, or it is not the variant meant.
    """
    generator.check_encoder(judge)
    original = judge.embed([photo])[0]
    taste = unit_rows(taste)[0]
    candidates = draw_candidates(generator, photo, original, slerp(original, taste, params.taste_weight), params)
    embeddings = judge.embed([Image.fromarray(image) for image in candidates])
    types = judge.article_types(np.vstack([embeddings, original[None]]))
    photo_pixels = np.asarray(pad_to_square(photo, generator.settings.image_size))
    scores = score_candidates(embeddings, original, taste, types[:-1], product_type or str(types[-1]),
                              tau=params.tau, min_gain=params.min_gain,
                              colour_gains=colour_gains(candidates, photo_pixels, colour)
                              if colour is not None and params.colour_gate else None)
    best = best_candidate(scores)
    if best is None:
        return Variant(photo_pixels, False, None, scores, str(types[-1]), params)
    return Variant(candidates[best], True, params.seed + best, scores, str(types[-1]), params)


def wanted_colour(photos, size: int) -> np.ndarray:
    """The Lab of a wanted colour from catalogue photos in it (PIL images), at the generator's size."""
    return reference_colour(np.asarray(pad_to_square(photo, size)) for photo in photos)


def colour_gains(candidates: np.ndarray, photo_pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per candidate: how much nearer (delta E) its dominant colour is to `colour` than the photo's."""
    before = delta_e(dominant_colour(photo_pixels), colour)
    return np.array([before - delta_e(dominant_colour(candidate), colour) for candidate in candidates])


def draw_candidates(generator, photo: Image.Image, original: np.ndarray, condition: np.ndarray,
                    params: VariantParams) -> np.ndarray:
    """One candidate per seed (seed, seed + 1, ...), each reproducible on its own from its seed.

    "redraw": img2img of the photo toward `condition`. "residual": the photo plus `edit_scale` times
    (that redraw minus the same-seed redraw toward `original`, the photo's own embedding): both redraws
    share the autoencoder's and the sampler's losses, so what is left is what the taste changed.
    """
    steps = params.num_inference_steps or generator.settings.num_inference_steps
    if int(steps * params.strength) < 1:  # img2img runs int(steps * strength) of the steps
        raise VariantError(f"strength {params.strength} of {steps} sampler steps leaves no denoising step; "
                           f"raise num_inference_steps to at least {int(np.ceil(1 / max(params.strength, 1e-6)))}")
    seeds = [params.seed + i for i in range(params.candidates)]
    conditions = [np.atleast_2d(condition)] * len(seeds)
    if params.mode == "residual":
        seeds, conditions = seeds * 2, conditions + [np.atleast_2d(original)] * len(seeds)
    redraws = generator.vary([photo] * len(seeds), np.vstack(conditions), strength=params.strength, seed=seeds,
                             num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale)
    if params.mode == "redraw":
        return redraws
    toward_taste, toward_self = np.split(redraws.astype(np.int16), 2)
    photo_pixels = np.asarray(pad_to_square(photo, generator.settings.image_size), dtype=np.int16)
    change = (toward_taste - toward_self).astype(np.float32) * params.edit_scale
    return np.clip(photo_pixels + np.rint(change), 0, 255).astype(np.uint8)
