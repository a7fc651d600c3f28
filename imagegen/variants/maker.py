"""Variants per taste segment, in the shape the service asks of a variant store (service.variants.VariantStore).

    maker = VariantMaker(generator, ClipJudge(encoder, article_types), VariantStore(root))
    maker.lookup(product_id, content_hash, segment)   # ready variant or None (cheap: memory, else one file)
    maker.generate(request)                            # in a job: make (or find) it; None = the original stays
    maker.invalidate(product_id)                       # the product changed: delete its variants
    maker.get(variant_id); maker.read_bytes(variant_id)

`request` needs product_id, content_hash, segment, image (PIL), taste (a unit vector: the product
as it would look in the segment's colour) and attributes (its articleType is what every candidate
must be judged to be), colour_photos (PIL photos of products in the segment's colour: a variant
must come closer to that colour; none: no colour gate) and colour_photo_ids (which products those are:
the colour they show is measured once per segment until they change): service.variants.GenerationRequest
has them. Returned
records have variant_id, product_id, segment, media_type and provenance (a dict), as
service.variants.VariantRecord.
"""
from __future__ import annotations

from imagegen.provenance import Provenance, generator_version
from imagegen.variants.errors import VariantNotFound
from imagegen.variants.judge import Judge
from imagegen.variants.params import VariantParams
from imagegen.variants.personalize import personalize, wanted_colour
from imagegen.variants.store import StoredVariant, VariantKey, VariantStore


class VariantMaker:
    def __init__(self, generator, judge: Judge, store: VariantStore, params: VariantParams = VariantParams()):
        generator.check_encoder(judge)
        self.generator, self.judge, self.store, self.params = generator, judge, store, params
        self.generator_version = generator_version(generator)
        self._params_digest = params.digest()
        # Decisions seen by this process: made variants and "the original stays". Keys are content-addressed,
        # so an entry never goes stale: a changed product asks under a new content hash. Cards then read no
        # file for a pair already decided either way.
        self._decided: dict[VariantKey, StoredVariant] = {}
        self._colours: dict[str, tuple] = {}  # segment -> (colour_photo_ids, the Lab they show)

    def key(self, content_hash: str, segment) -> VariantKey:
        return VariantKey(content_hash, str(segment), self.generator_version, self._params_digest)

    def lookup(self, product_id: int, content_hash: str, segment) -> StoredVariant | None:
        """The made variant, or None: not decided yet, or decided that the original photo stays."""
        key = self.key(content_hash, segment)
        if key not in self._decided:
            stored = self.store.get(key)
            if stored is None:
                return None
            self._decided[key] = stored
        stored = self._decided[key]
        return stored if stored.generated else None

    def generate(self, request) -> StoredVariant | None:
        key = self.key(request.content_hash, request.segment)
        stored = self.store.get(key) or self._make(key, request)
        return stored if stored.generated else None

    def invalidate(self, product_id: int) -> list:
        """Delete the product's variants and decisions; returns the segments that had a variant."""
        mine = self.store.records_of(product_id)
        for stored in mine:
            self.store.remove(stored)
        self._decided = {key: stored for key, stored in self._decided.items()
                         if stored.product_id != int(product_id)}
        return sorted({stored.segment for stored in mine if stored.generated})

    def get(self, variant_id: str) -> StoredVariant:
        stored = self.store.find(variant_id)
        if stored is None or not stored.generated:
            raise VariantNotFound(f"no variant with id {str(variant_id)[:80]!r}")
        return stored

    def read_bytes(self, variant_id: str) -> bytes:
        return self.store.read_bytes(variant_id)

    def _make(self, key: VariantKey, request) -> StoredVariant:
        colour = self._wanted_colour(request) if self.params.colour_gate else None
        variant = personalize(self.generator, self.judge, request.image, request.taste, self.params,
                              product_type=(request.attributes or {}).get("articleType"), colour=colour)
        if not variant.generated:
            return self.store.put(key, request.product_id, None)
        record = Provenance(ai_generated=True, generator_version=self.generator_version,
                            encoder_version=self.judge.space_id, seed=variant.seed,
                            source_product_hash=key.product_hash, segment=key.segment,
                            parameters=self.params.to_dict(), product_id=int(request.product_id))
        return self.store.put(key, request.product_id, variant.image, record)

    def _wanted_colour(self, request):
        """The Lab the request's colour photos show (None: no photos), measured once per segment and set of photos:
        every product of a segment is drawn toward the same colour."""
        if not request.colour_photos:
            return None
        ids = tuple(request.colour_photo_ids)
        cached = self._colours.get(str(request.segment))
        if ids and cached is not None and cached[0] == ids:
            return cached[1]
        colour = wanted_colour(request.colour_photos, self.generator.settings.image_size)
        self._colours[str(request.segment)] = (ids, colour)
        return colour

