"""What the service needs of the presentation store (imagegen.presentation.PresentationMaker), as a narrow Protocol.

The service only asks: is a card image ready for (product content, segment, policy)? make one (in a job,
never in a request), forget a product's images, and give me an image's bytes. Without a scene generator
configured, NullVariantStore answers "no image": every card shows the product's own photo.

The variants endpoints' use cases (service.api.variants), both raising VariantNotFound:

    variant_image(variant_id, etags)   # (record, image bytes), or None when the client's copy (ETag) is current
    variant_provenance(variant_id)     # {"id", "product_id" (the store's id), "segment", "provenance"}
"""
from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image

from imagegen.presentation.policy import PresentationPolicy
from imagegen.variants.errors import VariantNotFound  # noqa: F401 (re-exported: one class for "no such variant")
from service import repository
from service.deps import deps

# Variant ids are content-addressed tokens; anything else (dots, slashes) cannot name a file in a store.
VARIANT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


@dataclass(frozen=True)
class VariantRecord:
    """A ready variant. `provenance` is the store's JSON record (AI-generated flag, versions, seed, ...)."""

    variant_id: str
    product_id: int
    segment: str  # the taste segment it was made for (or "all")
    media_type: str = "image/png"
    provenance: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationRequest:
    """Everything a store needs to make one product's card image under one policy for one segment."""

    product_id: int
    content_hash: str
    segment: str  # a taste segment's number, or imagegen.presentation.ALL_SEGMENTS
    policy: PresentationPolicy
    image: Image.Image
    condition: np.ndarray | None = None  # what a scene is painted for: the segment's centroid, or its round's steer
    lineage: dict | None = None  # the round the scene belongs to and what steered it (service.scene_rounds)
    sku: str | None = None  # the product's id as its store names it, for the provenance record (None: the key's digits)


class VariantStore(Protocol):
    generates: bool  # False: never asked to generate (no jobs are queued)

    def lookup(self, product_id: int, content_hash: str, segment: str,
               policy: PresentationPolicy) -> VariantRecord | None:
        """The ready image for this product content, segment and policy, or None. Must be cheap (cards path)."""

    def generate(self, request: GenerationRequest) -> VariantRecord | None:
        """Make (or find) the variant; None when no candidate passes and the original stays. Slow."""

    def invalidate(self, product_id: int) -> list[tuple[str, PresentationPolicy]]:
        """Make the product's images unreachable; return the (segment, policy) pairs that had one (to remake)."""

    def get(self, variant_id: str) -> VariantRecord:
        """The record of a variant; raises VariantNotFound."""

    def read_bytes(self, variant_id: str) -> bytes:
        """The image bytes; raises VariantNotFound (also for ids that are not VARIANT_ID_PATTERN)."""

    def embeddings(self, variant_id: str) -> np.ndarray | None:
        """[2, d]: a scene's CLIP embedding and its product photo's as made (in the service's encoder space), or
        None where they were not kept; raises VariantNotFound. Rounds steer by them without encoding images."""

    def style_centres(self) -> np.ndarray | None:
        """The scene styles' mean directions [styles, d] (rounds order the next round's styles by them), or None
        when scenes have no styles."""


class NullVariantStore:
    """No generator wired: never a variant, so every card shows the product's own photo."""

    generates = False  # nothing to queue: a job could never produce a variant

    def lookup(self, product_id: int, content_hash: str, segment: str,
               policy: PresentationPolicy) -> VariantRecord | None:
        return None

    def generate(self, request: GenerationRequest) -> VariantRecord | None:
        return None

    def invalidate(self, product_id: int) -> list[tuple[str, PresentationPolicy]]:
        return []

    def get(self, variant_id: str) -> VariantRecord:
        raise VariantNotFound(f"no variant {variant_id!r}: this server has no variant generator configured")

    def read_bytes(self, variant_id: str) -> bytes:
        raise VariantNotFound(f"no variant {variant_id!r}: this server has no variant generator configured")

    def embeddings(self, variant_id: str) -> None:
        raise VariantNotFound(f"no variant {variant_id!r}: this server has no variant generator configured")

    def style_centres(self) -> None:
        return None


def build_variant_store(scene_spec: str, encoder, root, signer=None) -> "VariantStore":
    """The presentation store for a scene generator spec ("embedded" or "local-dir:PATH"), with the shipped
    matte and upscaler when they are installed (without them: plain backdrops only, bicubic enlargement), and
    a C2PA signer when the instance has a signing key."""
    from imagegen.presentation import PresentationMaker, build_presenter
    from imagegen.variants import VariantStore as FileVariantStore
    presenter = build_presenter(scene_spec, encoder)
    return PresentationMaker(presenter, FileVariantStore(root, signer), encoder_space=encoder.space_id)


# ---- the use cases of the variants endpoints ----------------------------------------------------

def variant_image(variant_id: str, etags: Container[str] = ()) -> tuple[VariantRecord, bytes] | None:
    """A variant's record and image bytes; None when `etags` (the client's) hold its id: ids are content
    addresses, so that copy is current and the bytes are not read."""
    store = deps().variants
    record = store.get(variant_id)
    if record.variant_id in etags:
        return None
    return record, store.read_bytes(record.variant_id)


def variant_provenance(variant_id: str) -> dict:
    """A variant's provenance record, with its product as the store names it (deleted since or not)."""
    record = deps().variants.get(variant_id)
    with deps().db.connect() as connection:
        product_id = repository.sku_of(connection, record.product_id)
    return {"id": record.variant_id, "product_id": product_id, "segment": record.segment,
            "provenance": record.provenance}
