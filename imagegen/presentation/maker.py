"""Card images per (product content, segment, policy), made once in a job and then looked up on every card.

    maker = PresentationMaker(presenter, VariantStore(root))
    maker.lookup(product_id, content_hash, segment, policy)   # ready record or None (cheap: memory, else a file)
    maker.generate(request)             # in a job: make it (or find it); None = the product's own photo stays
    maker.invalidate(product_id)        # the product changed: [(segment, policy)] that had an image
    maker.get(variant_id); maker.read_bytes(variant_id)
    maker.embeddings(stored)            # [2, d]: the scene's CLIP embedding and its photo's, as made (or None)

This is the shape service.variants.VariantStore asks for. `request` carries product_id, content_hash, segment,
policy (a PresentationPolicy), image (PIL), condition (what a scene is painted for), lineage (its round) and sku
(the product as its store names it, for the provenance record): see service.variants.GenerationRequest. A decision to keep the photo is stored with its reason, so a product whose
matte is unsure is not tried again on every view, and the reason can be read back.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from imagegen.presentation.policy import PresentationPolicy
from imagegen.presentation.presenter import Presenter
from imagegen.provenance import Provenance
from imagegen.variants.errors import VariantNotFound
from imagegen.variants.store import StoredVariant, VariantKey, VariantStore


class PresentationMaker:
    generates = True

    def __init__(self, presenter: Presenter, store: VariantStore, encoder_space: str = ""):
        self.presenter, self.store, self.encoder_space = presenter, store, encoder_space
        # decisions this process has seen (content-addressed keys never go stale): cards read no file twice
        self._decided: dict[VariantKey, StoredVariant] = {}

    def key(self, content_hash: str, segment, policy: PresentationPolicy) -> VariantKey:
        return VariantKey(content_hash, str(segment), self.presenter.version, policy.digest())

    def lookup(self, product_id: int, content_hash: str, segment, policy: PresentationPolicy) -> StoredVariant | None:
        """The ready image, or None: not decided yet, or decided that the product's own photo stays."""
        key = self.key(content_hash, segment, policy)
        if key not in self._decided:
            stored = self.store.get(key)
            if stored is None:
                return None
            self._decided[key] = stored
        stored = self._decided[key]
        return stored if stored.generated else None

    def generate(self, request) -> StoredVariant | None:
        key = self.key(request.content_hash, request.segment, request.policy)
        stored = self.store.get(key) or self._make(key, request)
        return stored if stored.generated else None

    def decision(self, content_hash: str, segment, policy: PresentationPolicy) -> StoredVariant | None:
        """What was decided for this image, made or not (its reason is in `reason`); None: not yet."""
        return self.store.get(self.key(content_hash, segment, policy))

    def invalidate(self, product_id: int) -> list[tuple[str, PresentationPolicy]]:
        """Delete the product's images and decisions; returns the (segment, policy) pairs that had an image."""
        mine = self.store.records_of(product_id)
        for stored in mine:
            self.store.remove(stored)
        self._decided = {key: stored for key, stored in self._decided.items() if stored.product_id != int(product_id)}
        return sorted({(s.segment, PresentationPolicy.from_dict(s.provenance["parameters"]["policy"]))
                       for s in mine if s.generated}, key=lambda pair: (pair[0], pair[1].digest()))

    def get(self, variant_id: str) -> StoredVariant:
        stored = self.store.find(variant_id)
        if stored is None or not stored.generated:
            raise VariantNotFound(f"no variant with id {str(variant_id)[:80]!r}")
        return stored

    def read_bytes(self, variant_id: str) -> bytes:
        return self.store.read_bytes(variant_id)

    def embeddings(self, stored: StoredVariant):
        """A scene's (a record from get or lookup) CLIP embedding and its product photo's ([2, d]) as they were
        computed when it was made; None where they were not kept (made without an encoder, or before they were) or
        were made in another encoder's space than this maker's."""
        if (stored.provenance or {}).get("encoder_version") != self.encoder_space:
            return None
        return self.store.read_embeddings(stored.variant_id)

    def style_centres(self):
        """The scene generator's style centres (imagegen.scene.bank.style_centres), or None without one."""
        return None if self.presenter.scenes is None else self.presenter.scenes.style_centres

    def _make(self, key: VariantKey, request) -> StoredVariant:
        policy = request.policy
        style = policy.painted_style(request.lineage)  # a round_style names a style of the request's round
        presented = self.presenter.present(request.image, replace(policy, style=style, round_style=None),
                                           request.condition, (request.lineage or {}).get("aim", "point"))
        if presented.image is None:
            return self.store.put(key, request.product_id, None, reason=presented.reason)
        scene = policy.kind == "scene"
        details = {**presented.details, **({"style": style} if scene and style is not None else {})}
        record = Provenance(ai_generated=scene, generator_version=self.presenter.version,
                            encoder_version=self.encoder_space, seed=policy.seed if scene else None,
                            source_product_hash=key.product_hash, segment=key.segment,
                            parameters={"policy": policy.to_dict(), "lineage": request.lineage,
                                        **{k: v for k, v in details.items() if k != "upscaled"}},
                            product_id=request.sku or str(request.product_id), edit="background" if scene else "upscaled",
                            upscaled=details.get("upscaled"),
                            c2pa=self.store.signer.describe() if self.store.signer else None)
        return self.store.put(key, request.product_id, presented.image, record, embeddings=_embeddings(presented))


def _embeddings(presented) -> np.ndarray | None:
    """[the card's CLIP embedding, its photo's] where the presenter computed both, else None."""
    if presented.embedding is None or presented.photo_embedding is None:
        return None
    return np.stack([presented.embedding, presented.photo_embedding]).astype(np.float32)
