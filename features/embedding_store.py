"""Product vectors persisted with product id and content hash, so re-embedding is incremental."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from features.catalogue import Catalogue
from features.errors import EmbeddingSpaceMismatch


@dataclass
class EmbeddingUpdate:
    """What one `update` did; `encoded` is exactly the products the encoder saw."""
    encoded: list[int]
    unchanged: int
    removed: list[int]


class EmbeddingStore:
    """Unit vectors of products in one encoder's space, keyed by product id."""

    def __init__(self, space_id: str, dim: int, path: str | Path | None = None):
        self.space_id = space_id
        self.path = Path(path) if path else None
        self.ids = np.zeros(0, dtype=np.int64)
        self.hashes = np.zeros(0, dtype="<U64")
        self.vectors = np.zeros((0, dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @classmethod
    def open(cls, path: str | Path, space_id: str, dim: int) -> "EmbeddingStore":
        """Load a store if it exists in the same space; a store in another space is refused."""
        store = cls(space_id, dim, path)
        if store.path and store.path.exists():
            with np.load(store.path, allow_pickle=False) as saved:
                if str(saved["space_id"]) != space_id:
                    raise EmbeddingSpaceMismatch(
                        f"{store.path} holds vectors of encoder space {str(saved['space_id'])!r}, "
                        f"not {space_id!r}; delete it or point to another store to re-embed")
                store.ids, store.hashes, store.vectors = saved["ids"], saved["hashes"], saved["vectors"]
        return store

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp.npz")
        np.savez(temporary, space_id=self.space_id, ids=self.ids, hashes=self.hashes, vectors=self.vectors)
        temporary.replace(self.path)  # atomic: a crash never leaves half a store

    def get(self, product_ids) -> np.ndarray:
        position = {int(p): i for i, p in enumerate(self.ids)}
        missing = [int(p) for p in product_ids if int(p) not in position]
        if missing:
            raise KeyError(f"no vector for product(s) {missing[:10]}")
        return self.vectors[[position[int(p)] for p in product_ids]]

    def update(self, catalogue: Catalogue, encoder, batch_size: int = 256) -> EmbeddingUpdate:
        """Encode only new or changed products (content hash); drop products gone from the catalogue."""
        if encoder.space_id != self.space_id:
            raise EmbeddingSpaceMismatch(f"store is in space {self.space_id!r}, encoder in {encoder.space_id!r}")
        hashes = {pid: catalogue.content_hash(pid) for pid in catalogue.ids}
        known = dict(zip(self.ids.tolist(), self.hashes.tolist()))
        todo = [pid for pid, h in hashes.items() if known.get(pid) != h]
        removed = [pid for pid in known if pid not in hashes]
        fresh = encode_products(catalogue, todo, encoder, batch_size)
        todo_set = set(todo)
        keep = np.array([pid in hashes and pid not in todo_set for pid in self.ids.tolist()], dtype=bool)
        self.ids = np.concatenate([self.ids[keep], np.array(todo, dtype=np.int64)])
        self.hashes = np.concatenate([self.hashes[keep], np.array([hashes[p] for p in todo], dtype="<U64")])
        self.vectors = np.concatenate([self.vectors[keep], fresh]).astype(np.float32)
        self.save()
        return EmbeddingUpdate(encoded=todo, unchanged=int(keep.sum()), removed=removed)


def encode_products(catalogue: Catalogue, keys: list[int], encoder, batch_size: int = 256) -> np.ndarray:
    """One unit vector per product, in `keys` order: a photo through the image tower, a text-only
    product's title and description through the text tower (CLIP's towers share one space)."""
    photo = np.array([catalogue.has_image(key) for key in keys], dtype=bool)
    keys = np.asarray(keys, dtype=np.int64)
    vectors = np.zeros((len(keys), encoder.embed_dim), dtype=np.float32)
    vectors[photo] = encoder.encode_images([catalogue.load_image(key) for key in keys[photo]], batch_size=batch_size)
    vectors[~photo] = encoder.encode_texts([catalogue.embedding_text(key) for key in keys[~photo]])
    return vectors


def embed_catalogue(catalogue: Catalogue, encoder, store_path: str | Path | None = None) -> EmbeddingStore:
    """Open (or start) the store at `store_path` and bring it up to date with the catalogue."""
    store = EmbeddingStore.open(store_path, encoder.space_id, encoder.embed_dim) if store_path else \
        EmbeddingStore(encoder.space_id, encoder.embed_dim)
    store.update(catalogue, encoder)
    return store


def store_path_for(folder: str | Path, space_id: str, catalogue_root: str | Path | None = None) -> Path:
    """`<folder>[/<catalogue folder name>]/<space id>.npz`, names made safe for files: one store per encoder
    space (and catalogue: a store follows its catalogue, so two catalogues sharing one would re-embed)."""
    if catalogue_root is not None:
        folder = Path(folder) / _safe(Path(catalogue_root).resolve().name)
    return Path(folder) / f"{_safe(space_id)}.npz"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
