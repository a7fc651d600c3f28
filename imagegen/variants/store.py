"""Content-addressed variant store: one PNG + JSON record per (product content, segment, generator, params).

    key = VariantKey(content_hash, segment, generator_version(generator), params.digest())
    store.put(key, product_id, image, provenance)   # a generated variant (PNG with provenance chunks + JSON)
    store.put(key, product_id, None)                # the decision to serve the original (no candidate passed)
    store.get(key)                                  # StoredVariant, or None: not decided yet, generation is due
    store.find(variant_id); store.read_bytes(variant_id)
    store.read_embeddings(variant_id)               # the CLIP rows put with it ([2, d]: scene, photo), or None
    store.records_of(product_id)                    # one product's variants, from its folder in the index

The key hashes the product's *content*, so a changed photo or text gives a new key: its old variants
are never found again (`prune` and `VariantMaker.invalidate` delete them). A stored original-photo decision is
cached like a variant, so a product whose redraws all fail the gate is not regenerated on every view.

Layout: `<root>/<id[:2]>/<id>.png` and `<id>.json` (the record), `<id>.npy` where CLIP embeddings were put with
it, and an index of empty markers
`<root>/by-product/<product_id>/<id>` so that one product's variants are listed without reading the others'.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from features.files import write_atomically
from imagegen.c2pa_manifest import sign_if_configured
from imagegen.provenance import Provenance, png_bytes
from imagegen.variants.errors import VariantError, VariantNotFound

VARIANT_ID = re.compile(r"^[0-9a-f]{64}$")  # a key's sha256: nothing else can name a file here
INDEX = "by-product"  # <root>/by-product/<product_id>/<variant_id>: an empty marker per stored variant


@dataclass(frozen=True)
class VariantKey:
    product_hash: str
    segment: str
    generator_version: str
    params_digest: str

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class StoredVariant:
    key: VariantKey
    product_id: int
    generated: bool  # False: serve the product's original photo
    provenance: dict | None  # Provenance.to_dict(), the JSON an API exposes
    image_path: Path | None
    media_type: str = "image/png"
    reason: str | None = None  # a decision to keep the original photo: why

    @property
    def variant_id(self) -> str:
        return self.key.digest()

    @property
    def segment(self) -> str:
        return self.key.segment

    def to_dict(self) -> dict:
        return {"variant_id": self.variant_id, "product_id": self.product_id, "generated": self.generated,
                **asdict(self.key), "provenance": self.provenance, "reason": self.reason}


class VariantStore:
    def __init__(self, root: str | Path, signer=None):
        """`signer`: an imagegen.c2pa_manifest.ManifestSigner, or None (no C2PA manifest in the files)."""
        self.root, self.signer = Path(root), signer
        self._indexed = False  # the by-product index is known to exist (checked once per instance)

    def get(self, key: VariantKey) -> StoredVariant | None:
        return self.find(key.digest())

    def find(self, variant_id: str) -> StoredVariant | None:
        if not VARIANT_ID.match(str(variant_id)):
            return None
        record_path = self._path(variant_id, ".json")
        return _from_record(record_path, json.loads(record_path.read_text())) if record_path.is_file() else None

    def put(self, key: VariantKey, product_id: int, image: np.ndarray | None,
            provenance: Provenance | None = None, reason: str | None = None,
            embeddings: np.ndarray | None = None) -> StoredVariant:
        """Store a variant (image and its provenance, and CLIP `embeddings` of it when given: float rows
        [k, d]), or with image None the decision to serve the original (and why, when known)."""
        if (image is None) != (provenance is None):
            raise VariantError("a stored variant needs both its image and its provenance record "
                               f"(got image={'None' if image is None else 'an array'}, provenance={provenance!r})")
        if embeddings is not None and (image is None or np.ndim(embeddings) != 2):
            raise VariantError("embeddings are kept with a generated image only, as rows [k, d]; got "
                               f"{'no image' if image is None else f'shape {np.shape(embeddings)}'}")
        self._ensure_index()  # first, or this put would create the index of an old store without its records
        image_path = self._path(key.digest(), ".png") if image is not None else None
        if image is not None:
            write_atomically(image_path, sign_if_configured(png_bytes(image, provenance), provenance, self.signer))
        if embeddings is not None:
            write_atomically(self._path(key.digest(), ".npy"), _npy_bytes(embeddings))
        stored = StoredVariant(key, int(product_id), image is not None, provenance.to_dict() if provenance else None,
                               image_path, reason=None if image is not None else reason)
        # the marker before the record: every record is in the index, a crash leaves at most a marker
        # without a record, which records_of ignores
        _touch_marker(self.root / INDEX, stored.product_id, stored.variant_id)
        # the record is written last: its presence means the variant is complete
        write_atomically(self._path(key.digest(), ".json"), json.dumps(stored.to_dict(), indent=1).encode())
        return stored

    def read_bytes(self, variant_id: str) -> bytes:
        stored = self.find(variant_id)
        if stored is None or not stored.generated:
            raise VariantNotFound(f"no generated variant with id {str(variant_id)[:80]!r}")
        return stored.image_path.read_bytes()

    def read_embeddings(self, variant_id: str) -> np.ndarray | None:
        """The CLIP rows put with a variant (float32 [k, d]), or None: none were put (or no such variant)."""
        path = self._path(variant_id, ".npy") if VARIANT_ID.match(str(variant_id)) else None
        if path is None or not path.is_file() or self.find(variant_id) is None:
            return None
        return np.load(path, allow_pickle=False)

    def records(self):
        """Every stored variant and original-photo decision (a directory scan: for maintenance, not cards)."""
        for record_path in sorted(self.root.glob("*/*.json")):
            yield _from_record(record_path, json.loads(record_path.read_text()))

    def records_of(self, product_id: int) -> list[StoredVariant]:
        """The product's variants and original-photo decisions, read from its folder in the index (the other
        products' records are not read).

        A store written before the index existed has no `by-product` folder: the first call (or `put`) scans
        every record once and writes their markers (a one-time migration; see `_ensure_index`).
        """
        self._ensure_index()
        product_id = int(product_id)
        markers = sorted((self.root / INDEX / str(product_id)).glob("*"))
        found = (self.find(marker.name) for marker in markers)
        # a marker may outlive its variant (a crash in put before the record, or in remove after it) or name a
        # variant another product with the same content stored since; the record decides, so skipping is safe
        return [stored for stored in found if stored is not None and stored.product_id == product_id]

    def remove(self, stored: StoredVariant) -> None:
        """Delete a variant (its record, as find or records_of gave it): the record first (from then on it is
        gone), then its image and its index marker."""
        self._path(stored.variant_id, ".json").unlink(missing_ok=True)
        self._path(stored.variant_id, ".png").unlink(missing_ok=True)
        self._path(stored.variant_id, ".npy").unlink(missing_ok=True)
        _marker(self.root / INDEX, stored.product_id, stored.variant_id).unlink(missing_ok=True)

    def prune(self, live_product_hashes) -> int:
        """Delete every variant whose product content is no longer current; returns how many."""
        live = set(live_product_hashes)
        stale = [stored for stored in self.records() if stored.key.product_hash not in live]
        for stored in stale:
            self.remove(stored)
        return len(stale)

    def _path(self, variant_id: str, suffix: str) -> Path:
        return self.root / variant_id[:2] / f"{variant_id}{suffix}"

    def _ensure_index(self) -> None:
        """Build the by-product index of a store that has none (written before it existed), once.

        The markers are written to a temporary folder renamed into place, so the index appears whole or not
        at all: a crash mid-way leaves no index and the next call scans again.
        """
        if self._indexed or (self.root / INDEX).is_dir():
            self._indexed = True
            return
        self.root.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{INDEX}-", dir=self.root))
        for stored in self.records():
            _touch_marker(building, stored.product_id, stored.variant_id)
        try:
            os.rename(building, self.root / INDEX)
        except OSError:  # another store object indexed it first; its index is as complete as this one
            shutil.rmtree(building, ignore_errors=True)
        self._indexed = True


def _from_record(record_path: Path, record: dict) -> StoredVariant:
    key = VariantKey(*(record[name] for name in ("product_hash", "segment", "generator_version", "params_digest")))
    image_path = record_path.with_suffix(".png") if record["generated"] else None
    return StoredVariant(key, record["product_id"], record["generated"], record["provenance"], image_path,
                         reason=record.get("reason"))


def _npy_bytes(rows: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(rows, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def _marker(index: Path, product_id: int, variant_id: str) -> Path:
    return index / str(int(product_id)) / variant_id


def _touch_marker(index: Path, product_id: int, variant_id: str) -> None:
    """An empty file: its creation is atomic, so it needs no temporary file."""
    marker = _marker(index, product_id, variant_id)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
