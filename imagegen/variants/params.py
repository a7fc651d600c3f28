"""The knobs of one personalised variant, saved as JSON and hashed into the variant store's key."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from features.checks import check_fields, number, whole
from imagegen.variants.errors import VariantError


EDIT_MODES = ("residual", "redraw")


@dataclass(frozen=True)
class VariantParams:
    strength: float = 0.5  # img2img strength: 0 keeps the photo, 1 ignores it (chosen on simulation seed 1)
    # "residual": the photo plus what the taste changed (redraw toward the taste minus the same-seed redraw
    # toward the product itself), so the autoencoder's blur and the sampler's drift cancel; "redraw": the redraw
    mode: str = "residual"
    edit_scale: float = 1.0  # residual mode: the photo plus this many times what the taste changed
    # slerp weight from the product's embedding (0) to the taste (1). On simulation seed 1 (fashion-small, 24
    # products, no colour gate) 0.5 / 0.75 / 1.0 moved 0.6163 / 0.6235 / 0.5902 of served variants toward
    # their shopper's colours, against 0.5645 / 0.4612 / 0.4447 for a random shopper's (README)
    taste_weight: float = 0.75
    candidates: int = 4  # seeds tried per (product, taste)
    tau: float = 0.8  # fidelity gate: cosine similarity to the original photo at least this
    min_gain: float = 0.0  # a candidate must be closer to the taste than the original by more than this
    colour_gate: bool = True  # a variant meant to lean to a colour must have come closer to it (pixels)
    seed: int = 0  # candidate i uses seed + i
    num_inference_steps: int | None = None  # None: the generator's default
    guidance_scale: float | None = None

    def __post_init__(self):
        self.check_inputs()

    def check_inputs(self) -> None:
        check_fields(self, VariantError, (
            ("strength", number(self.strength, 0, 1), "in [0, 1]"),
            ("mode", self.mode in EDIT_MODES, f"one of {list(EDIT_MODES)}"),
            ("edit_scale", number(self.edit_scale, 0, 4, above=True), "in (0, 4]"),
            ("taste_weight", number(self.taste_weight, 0, 1), "in [0, 1]"),
            ("candidates", whole(self.candidates, 1), "an integer >= 1"),
            ("tau", number(self.tau, -1, 1), "a cosine similarity in [-1, 1]"),
            ("min_gain", number(self.min_gain, -2, 2), "a difference of cosine similarities, in [-2, 2]"),
            ("colour_gate", isinstance(self.colour_gate, bool), "true or false"),
            ("seed", whole(self.seed, 0), "an integer >= 0"),
            ("num_inference_steps", self.num_inference_steps is None or whole(self.num_inference_steps, 1),
             "an integer >= 1, or None (the generator's default)"),
            ("guidance_scale", self.guidance_scale is None or number(self.guidance_scale, 0),
             "a number >= 0, or None (the generator's default)"),
        ))

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        """Stable hash of every field: a change of any knob is a different variant."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
