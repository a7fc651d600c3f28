"""One variant policy: which presentation a card gets, for which segment, from which condition.

    policy = PresentationPolicy("scene", guidance_scale=4.0)        # an arm of an experiment can name one
    plan = plan_card(has_photo=True, allowed=True, segment=3, policy=policy)
    plan.policy, plan.segment          # what to look up / generate; segment None: one image for every shopper

The service's cards, its generation jobs and `tailorcard bench presentation` all go through here, so what the
bench measures is what shoppers get. Kinds:
  original  the catalogue photo as it is;
  upscaled  the photo at card size (imagegen.upscale), product and backdrop its own: the honest control;
  scene     the matted product, its pixels untouched, over a backdrop painted for the shopper's taste segment
            (conditioned on the segment's centroid in CLIP space).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from features.checks import check_fields, from_fields, number, whole
from imagegen.errors import PresentationError
from imagegen.scene.bank import STYLES

KINDS = ("original", "upscaled", "scene")
LATER_FIELDS = ("round_style",)  # left out of the digest while None (see PresentationPolicy.digest)


@dataclass(frozen=True)
class PresentationPolicy:
    kind: str = "scene"
    guidance_scale: float | None = None  # scene: classifier-free guidance (None: the scene generator's default)
    num_inference_steps: int | None = None  # scene: sampler steps (None: the generator's default)
    seed: int = 0  # scene: the same seed for every segment, so segments differ by their condition alone
    backdrop_blur: float = 1.0  # scene: Gaussian blur (card px) of the painted backdrop after upsampling
    round: int = 0  # scene: 0 paints for the segment's centroid; n for the condition results steered it to (steering.py)
    candidates: int = 4  # scene: backdrops painted per card; the one nearest the target in CLIP space is kept
    style: int | None = None  # scene: None paints the bank's backdrops nearest the segment; s only style s's
    # scene: j paints the round's j-th style (round_styles): round 0's are the styles in order, a steered round's
    # start with the style that won the round before (steering.next_styles), so an arm named by it follows winners
    round_style: int | None = None

    def __post_init__(self):
        self.check_inputs()

    def check_inputs(self) -> None:
        check_fields(self, PresentationError, (
            ("kind", self.kind in KINDS, f"one of {list(KINDS)}"),
            ("guidance_scale", self.guidance_scale is None or number(self.guidance_scale, 0, 30),
             "a number in [0, 30], or null (the generator's default)"),
            ("num_inference_steps", self.num_inference_steps is None or whole(self.num_inference_steps, 1) and self.num_inference_steps <= 200,
             "an integer in [1, 200], or null (the generator's default)"),
            ("seed", whole(self.seed, 0), "an integer >= 0"),
            ("backdrop_blur", number(self.backdrop_blur, 0, 20), "a number of pixels in [0, 20]"),
            ("round", whole(self.round, 0), "an integer >= 0"),
            ("candidates", whole(self.candidates, 1) and self.candidates <= 16,
             "an integer in [1, 16] (each one is painted: the cost grows with it)"),
            ("style", self.style is None or whole(self.style, 0) and self.style < STYLES,
             f"an integer in [0, {STYLES - 1}] (a scene style of the generator's bank), or null (any style)"),
            ("round_style", self.round_style is None or whole(self.round_style, 0) and self.round_style < STYLES
             and self.style is None, f"an integer in [0, {STYLES - 1}] (the round's j-th style) with style null, "
                                     "or null"),
        ))

    @property
    def per_segment(self) -> bool:
        """Whether the image depends on the shopper's segment (else one image per product serves everyone)."""
        return self.kind == "scene"

    def painted_style(self, lineage: dict | None) -> int | None:
        """The bank style this policy paints in the round of `lineage` (service.scene_rounds): `style`, else the
        round's `round_style`-th style, else None (any style)."""
        if self.round_style is None:
            return self.style
        styles = round_styles(lineage)
        return styles[self.round_style % len(styles)]  # a bank with fewer styles wraps, as condition_candidates does

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "presentation policy") -> "PresentationPolicy":
        return from_fields(cls, values, where, PresentationError)

    def digest(self) -> str:
        """Stable hash of every field: a policy with any other setting is another image. Fields added since
        images were stored (LATER_FIELDS) count only when set, so those images keep their keys."""
        fields = {k: v for k, v in self.to_dict().items() if v is not None or k not in LATER_FIELDS}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def round_styles(lineage: dict | None) -> list[int]:
    """The styles of a round in the order `round_style` counts them: as steering stored them, else 0, 1, ..."""
    return list((lineage or {}).get("styles") or range(STYLES))


ORIGINAL, UPSCALED, SCENE = PresentationPolicy("original"), PresentationPolicy("upscaled"), PresentationPolicy("scene")
ALL_SEGMENTS = "all"  # the segment key of an image every shopper gets (original, upscaled)


@dataclass(frozen=True)
class CardPlan:
    policy: PresentationPolicy
    segment: str  # the taste segment the image is for, or ALL_SEGMENTS

    @property
    def generated(self) -> bool:
        return self.policy.kind == "scene"


def plan_card(has_photo: bool, allowed: bool, segment: int | None, policy: PresentationPolicy = SCENE) -> CardPlan:
    """The presentation of one card. A product without a photo, or one the merchant switched scenes off for,
    or a shopper without a segment, gets the product's own photo at card size instead of a scene."""
    if not has_photo or policy.kind == "original":
        return CardPlan(ORIGINAL, ALL_SEGMENTS)
    if policy.kind == "scene" and allowed and segment is not None:
        return CardPlan(policy, str(int(segment)))
    return CardPlan(UPSCALED, ALL_SEGMENTS)
