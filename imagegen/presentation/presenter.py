"""The presentations of one product photo, made from components passed in (diffusers-style).

    presenter = Presenter(scenes=load_scene_generator(), matte_model=None, upscaler=load_upscaler(...))
    card = presenter.present(photo, SCENE, condition=segment_centroid)   # Presented
    card.image, card.generated, card.reason, card.details

`present_segments` paints one product for several segments from the same noise, so they differ by their
condition alone (what `bench presentation` compares). A card is the best of a few painted backdrops: the
scene generator offers the conditions worth painting for the target (imagegen.scene.bank), and the card whose
CLIP embedding comes out nearest the target is kept, as DALL-E's samples were reranked by CLIP. A scene whose product pixels would not be the
photo's own is refused, never served (the check runs on every card). With an encoder, a scene card carries its own
CLIP embedding and its photo's, as they were computed here: rounds steer by them (service.scene_rounds) without
encoding the images again while a request waits.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from features.vectors import unit_rows
from imagegen.errors import PresentationError
from imagegen.presentation.compose import (RULES_VERSION, backdrop_at_card, compose, generator_input, matte_photo,
                                           product_unchanged)
from imagegen.presentation.policy import PresentationPolicy
from imagegen.provenance import generator_version
from imagegen.upscale import enlarged_plainly, upscale_for_card
from imagegen.upscale.model import model_version


@dataclass
class Presented:
    image: np.ndarray | None  # uint8 [h, w, 3] at card size; None: the policy's image could not be made
    generated: bool  # True: the backdrop is painted by the scene generator
    reason: str | None = None  # why there is no image (the card keeps the product's own photo)
    details: dict = field(default_factory=dict)  # what was done, for the provenance record
    embedding: np.ndarray | None = None  # the card's CLIP embedding (a scene card, with an encoder)
    photo_embedding: np.ndarray | None = None  # the product photo's, beside it


class Presenter:
    def __init__(self, scenes=None, matte_model=None, upscaler=None, encoder=None):
        """`scenes`: a SceneGenerator (None: no scene cards); `matte_model`: the trained matte (None: plain
        backdrops only, by their pseudo-masks); `upscaler`: the 4x upscaler (None: bicubic enlargement);
        `encoder`: the CLIP encoder of the scenes' space (needed by a generator conditioned on what backdrops add:
        the product's own embedding is where the way to the taste starts)."""
        self.scenes, self.matte_model, self.upscaler, self.encoder = scenes, matte_model, upscaler, encoder
        if encoder is not None:
            self.check_encoder(encoder)
        self.version = _version(scenes, matte_model, upscaler)

    def check_encoder(self, encoder) -> None:
        if self.scenes is not None:
            self.scenes.check_encoder(encoder)

    def at_card_size(self, photo: Image.Image) -> tuple[np.ndarray, dict]:
        """The photo as every card serves it: 4x upscaled when it is small (and an upscaler is installed)."""
        photo = photo.convert("RGB")
        if self.upscaler is None:  # no model installed: a plain bicubic enlargement, still never below card size
            enlarged = enlarged_plainly(photo)
            size = enlarged.size
            upscaled = {"factor": round(max(size) / max(photo.size), 4), "model_version": "bicubic",
                        "steps": [f"bicubic to {max(size)} px long side"]} if size != photo.size else None
            return np.asarray(enlarged), {"upscaled": upscaled, "size": list(size)}
        result = upscale_for_card(self.upscaler, photo)
        upscaled = {"factor": round(result.factor, 4), "model_version": result.model_version,
                    "steps": list(result.steps)} if result.upscaled else None
        return np.asarray(result.image), {"upscaled": upscaled, "size": list(result.image.size)}

    def present(self, photo: Image.Image, policy: PresentationPolicy, condition: np.ndarray | None = None,
                aim: str = "point") -> Presented:
        """One card image under `policy`; a scene needs `condition` (a taste segment's centroid, or with
        aim="added" what its backdrop should add: imagegen.scene.generator.AIMS)."""
        if policy.kind != "scene":
            pixels, details = self.at_card_size(photo) if policy.kind == "upscaled" else (np.asarray(
                photo.convert("RGB")), {"upscaled": None, "size": list(photo.size)})
            return Presented(pixels, False, details={**details, "kind": policy.kind})
        if condition is None:
            raise PresentationError("a scene presentation needs a condition (a taste segment's centroid); got none")
        return self.present_segments(photo, policy, np.atleast_2d(condition), aim)[0]

    def present_segments(self, photo: Image.Image, policy: PresentationPolicy, conditions: np.ndarray,
                         aim: str = "point") -> list[Presented]:
        """One scene card per target row (a segment's centroid, a point results steered it to, or with aim="added"
        a direction its backdrop should add), all from the same noise (policy.seed); each is the best of up to
        policy.candidates painted backdrops."""
        painting, refused = self._painting(photo, policy)
        if painting is None:
            return [refused] * len(conditions)
        targets = unit_rows(np.asarray(conditions, dtype=np.float32), dtype=np.float32, allow_zero=True)
        own = self._photo_embedding(photo)
        product = self._conditioning_product(own, aim)
        rows = self._rows_for(product, targets, policy.candidates, policy.painted_style(None), aim)
        return [self._best_card(painting, target, candidates, own, aim == "added")
                for target, candidates in zip(targets, rows)]

    def paint_rows(self, photo: Image.Image, policy: PresentationPolicy, rows: np.ndarray) -> list[Presented]:
        """A scene card for each of the scene generator's condition rows given, none chosen: what a condition can
        paint, whichever target it serves (the lab measures the generator's reach with it)."""
        painting, refused = self._painting(photo, policy)
        return [refused] * len(rows) if painting is None else self._paint(painting, np.atleast_2d(rows))

    def _painting(self, photo: Image.Image, policy: PresentationPolicy) -> tuple[tuple | None, Presented | None]:
        """What every backdrop of this photo is painted from (the matted product, the generator's square, mask and
        box, the policy, the card's details), or (None, the card that keeps the photo and why)."""
        if self.scenes is None:
            return None, Presented(None, False, "no scene generator installed")
        pixels, details = self.at_card_size(photo)
        matted, reason = matte_photo(pixels, self.matte_model)
        if matted is None:
            return None, Presented(None, False, reason, details)
        details = {**details, "kind": "scene", "matte": matted.source,
                   "product_share": round(float(matted.product.mean()), 4)}
        return (matted, *generator_input(matted, self.scenes.settings.image_size), policy, details), None

    def candidate_rows(self, photo: Image.Image, targets: np.ndarray, count: int = 1,
                       style: int | None = None, aim: str = "point") -> list[np.ndarray]:
        """Per target, the scene generator's condition rows worth painting toward it ([m, d], 1 <= m <= count): a
        generator trained on what backdrops add offers its bank's backdrops for it (imagegen.scene.bank), of
        `style` only when given; a zero target stays the zero row (the unconditional backdrop)."""
        targets = unit_rows(np.asarray(targets, dtype=np.float32), dtype=np.float32, allow_zero=True)
        return self._rows_for(self._conditioning_product(self._photo_embedding(photo), aim), targets, count, style,
                              aim)

    def _photo_embedding(self, photo: Image.Image) -> np.ndarray | None:
        """The product photo's CLIP embedding (None without an encoder)."""
        return None if self.encoder is None else self.encoder.encode_images([photo.convert("RGB")])[0]

    def _conditioning_product(self, own: np.ndarray | None, aim: str) -> np.ndarray | None:
        """The photo's embedding `own` where the scene generator or the aim needs it (None where not)."""
        if self.scenes.settings.conditioning != "added" and aim == "point":
            return None
        if own is None:
            raise PresentationError(f"{self.scenes.name} paints what backdrops add to a product (or was asked to): "
                                    "the presenter needs the encoder of its space to embed the product")
        return own

    def _rows_for(self, product: np.ndarray | None, targets: np.ndarray, count: int, style: int | None,
                  aim: str) -> list[np.ndarray]:
        if product is None:  # a generator conditioned on the target point itself
            return [target[None] for target in targets]
        return [self.scenes.condition_candidates(target, product, count, style, aim) for target in targets]

    def _best_card(self, painting, target: np.ndarray, rows: np.ndarray, own: np.ndarray | None = None,
                   added: bool = False) -> Presented:
        """Paint every candidate row and keep the card nearest `target` in CLIP space, or with `added` the card
        whose backdrop added to the product (its photo's embedding `own`) what is most like `target` (the first
        without an encoder). The card keeps its embedding and the photo's."""
        cards = self._paint(painting, rows)
        embedded = self._embedded(cards)
        fit = self._fit(embedded, target, own if added else None) if len(cards) > 1 else None
        best = int(np.argmax(fit)) if fit is not None else 0
        chosen = cards[best]
        chosen.details = {**chosen.details, "candidates": len(cards), "chosen": best,
                          "fit": round(float(fit[best]), 4) if fit is not None else None}
        if embedded is not None and chosen.image is not None:
            chosen.embedding, chosen.photo_embedding = embedded[best], own
        return chosen

    def _paint(self, painting, rows: np.ndarray) -> list[Presented]:
        matted, square, repaint, box, policy, details = painting
        with torch.no_grad():
            painted = [self.scenes.paint(square[None], repaint[None], row[None], seed=policy.seed,
                                         guidance_scale=policy.guidance_scale,
                                         num_inference_steps=policy.num_inference_steps)[0] for row in rows]
        return [self._scene_card(matted, image, box, policy, details) for image in painted]

    def _embedded(self, cards: list[Presented]) -> np.ndarray | None:
        """CLIP embeddings of the cards [n, d] (a refused card's row is NaN); None without an encoder."""
        if self.encoder is None:
            return None
        made = [i for i, card in enumerate(cards) if card.image is not None]
        embedded = np.full((len(cards), self.encoder.embed_dim), np.nan, dtype=np.float32)
        if made:
            embedded[made] = self.encoder.encode_images([Image.fromarray(cards[i].image) for i in made])
        return embedded

    @staticmethod
    def _fit(embedded: np.ndarray | None, target: np.ndarray, product: np.ndarray | None = None) -> np.ndarray | None:
        """Cosine of each card (or of what its backdrop added to the `product`) to the target (-inf for a refused
        one); None when there is nothing to choose by."""
        if embedded is None or not target.any():
            return None
        made = ~np.isnan(embedded).any(axis=1)
        fit = np.full(len(embedded), -np.inf)
        rows = embedded[made]
        if product is not None:
            rows = unit_rows(rows - product, np.float32, allow_zero=True)
        fit[made] = rows @ target
        return fit

    def _scene_card(self, matted, painted, box, policy, details) -> Presented:
        card = compose(matted, backdrop_at_card(painted, box, matted.alpha.shape, policy.backdrop_blur))
        if not product_unchanged(card, matted):  # cannot happen by construction; checked because it must not
            return Presented(None, False, "composite changed product pixels; refused", details)
        return Presented(card, True, None, details)


def _version(scenes, matte_model, upscaler) -> str:
    """A short hash of every model that decides the pictures."""
    parts = {"scenes": generator_version(scenes) if scenes is not None else None,
             "matte": _weights_digest(matte_model) if matte_model is not None else None, "rules": RULES_VERSION,
             "upscaler": model_version(upscaler) if upscaler is not None else None}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _weights_digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]
