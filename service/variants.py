"""What the service needs of the variant store (imagegen's, issue 5), as a narrow Protocol.

The service only asks: is a variant ready for (product content, segment)? make one (in a job,
never in a request), forget a product's variants, and give me a variant's bytes. Until the
real store is wired, NullVariantStore answers "no variant": every card shows the original photo.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image

from imagegen.variants.errors import VariantNotFound  # noqa: F401 (re-exported: one class for "no such variant")

# Variant ids are content-addressed tokens; anything else (dots, slashes) cannot name a file in a store.
VARIANT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,128}$")




@dataclass(frozen=True)
class VariantRecord:
    """A ready variant. `provenance` is the store's JSON record (AI-generated flag, versions, seed, ...)."""

    variant_id: str
    product_id: int
    segment: str  # the colour segment it was made for
    media_type: str = "image/png"
    provenance: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationRequest:
    """Everything a store needs to make one product's variant for one colour segment."""

    product_id: int
    content_hash: str
    segment: str
    image: Image.Image
    taste: np.ndarray  # the product as it would look in the segment's colour (LiveModel.colour_taste), unit
    title: str = ""
    attributes: dict = field(default_factory=dict)
    colour_photos: list = field(default_factory=list)  # photos of products in the segment's colour (PIL)
    colour_photo_ids: tuple = ()  # the products colour_photos show, in the same order


class VariantStore(Protocol):
    generates: bool  # False: never asked to generate (no jobs are queued)

    def lookup(self, product_id: int, content_hash: str, segment: str) -> VariantRecord | None:
        """The ready variant for this product content and segment, or None. Must be cheap (cards path)."""

    def generate(self, request: GenerationRequest) -> VariantRecord | None:
        """Make (or find) the variant; None when no candidate passes and the original stays. Slow."""

    def invalidate(self, product_id: int) -> list[str]:
        """Make the product's variants unreachable; return the segments that had one (to regenerate)."""

    def get(self, variant_id: str) -> VariantRecord:
        """The record of a variant; raises VariantNotFound."""

    def read_bytes(self, variant_id: str) -> bytes:
        """The image bytes; raises VariantNotFound (also for ids that are not VARIANT_ID_PATTERN)."""


class NullVariantStore:
    """No generator wired: never a variant, so every card shows the product's own photo."""

    generates = False  # nothing to queue: a job could never produce a variant

    def lookup(self, product_id: int, content_hash: str, segment: str) -> VariantRecord | None:
        return None

    def generate(self, request: GenerationRequest) -> VariantRecord | None:
        return None

    def invalidate(self, product_id: int) -> list[str]:
        return []

    def get(self, variant_id: str) -> VariantRecord:
        raise VariantNotFound(f"no variant {variant_id!r}: this server has no variant generator configured")

    def read_bytes(self, variant_id: str) -> bytes:
        raise VariantNotFound(f"no variant {variant_id!r}: this server has no variant generator configured")


def build_variant_store(generator_spec: str, encoder, root, connection) -> "VariantStore":
    """The real store (imagegen.variants) for a generator spec, judged by the service's encoder
    against the article types of the products in the database."""
    from imagegen.pipeline import load_generator
    from imagegen.variants import ClipJudge, VariantMaker, VariantStore as FileVariantStore
    from features.colour_taste import TYPE_ATTRIBUTE
    from service.repository import all_products
    types = {str(a.get(TYPE_ATTRIBUTE)) for a in all_products(connection)["attributes"] if a.get(TYPE_ATTRIBUTE)}
    judge = ClipJudge(encoder, sorted(types) or ["product"])
    return VariantMaker(load_generator(generator_spec, device="cpu"), judge, FileVariantStore(root))
