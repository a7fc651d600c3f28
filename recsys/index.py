"""Nearest-product search over int64 product ids, with one-product add / remove / update.

The FAISS index comes from a factory string: exact `Flat` for small catalogues, `IVF<n>,Flat`
for large ones (chosen by size, overridable). Vectors are unit rows; similarity is the inner
product (= cosine). The faiss index only ever appends; a removed or updated product leaves a
tombstone that searches skip (via an IDSelector) until the next compaction. One mechanism serves
every index type, including HNSW, which cannot remove vectors at all.
"""
from __future__ import annotations


import faiss
import numpy as np

from features.errors import TailorcardError

EXACT_UP_TO = 200_000  # above this many products an exact scan is too slow per query
COMPACT_DEAD_FRACTION = 0.2
TRAIN_POINTS_PER_LIST = 64


class ItemIndexError(TailorcardError):
    """A bad index request: wrong vector shape, unknown factory string, unknown product."""


def choose_factory(n_items: int) -> str:
    """Exact below EXACT_UP_TO products; else IVF with about sqrt(n) lists (a power of two)."""
    if n_items <= EXACT_UP_TO:
        return "Flat"
    return f"IVF{1 << int(round(np.log2(np.sqrt(n_items))))},Flat"


class ItemIndex:
    """Product vectors by product id. `search` returns (scores, ids) with id -1 padding."""

    def __init__(self, dim: int, factory: str = "Flat", nprobe: int = 16, ef_search: int = 128,
                 use_gpu: bool | None = None):
        self.config = {"dim": int(dim), "factory": factory, "nprobe": int(nprobe), "ef_search": int(ef_search)}
        try:
            self._index = faiss.index_factory(int(dim), factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ItemIndexError(f"bad faiss factory string {factory!r} for dim {dim}: {str(exc).splitlines()[0]}") from None
        self._apply_search_settings()
        if hasattr(faiss.downcast_index(self._index), "make_direct_map"):
            faiss.downcast_index(self._index).make_direct_map()  # IVF: reconstruct by position
        self.ids = np.zeros(0, dtype=np.int64)  # product id of each faiss position
        self.alive = np.zeros(0, dtype=bool)
        self._position: dict[int, int] = {}
        self.use_gpu = faiss.get_num_gpus() > 0 if use_gpu is None else use_gpu
        self._gpu_index = None

    @classmethod
    def for_items(cls, item_ids, vectors, factory: str | None = None, **kwargs) -> "ItemIndex":
        """Build an index sized for these products (factory chosen by count unless given)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        index = cls(vectors.shape[1], factory or choose_factory(len(vectors)), **kwargs)
        index.add(item_ids, vectors)
        return index

    def __len__(self) -> int:
        return len(self._position)

    def __contains__(self, item_id) -> bool:
        return int(item_id) in self._position

    @property
    def dim(self) -> int:
        return self.config["dim"]

    def _apply_search_settings(self) -> None:
        inner = faiss.downcast_index(self._index)
        if hasattr(inner, "nprobe"):
            inner.nprobe = self.config["nprobe"]
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = self.config["ef_search"]

    def _check(self, item_ids, vectors) -> tuple[np.ndarray, np.ndarray]:
        item_ids = np.atleast_1d(np.asarray(item_ids, dtype=np.int64))
        vectors = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
        if vectors.shape != (len(item_ids), self.dim):
            raise ItemIndexError(f"got {len(item_ids)} id(s) and vectors of shape {vectors.shape}; "
                              f"expected vectors of shape ({len(item_ids)}, {self.dim})")
        if len(np.unique(item_ids)) != len(item_ids):
            raise ItemIndexError("the same product id is given more than once")
        return item_ids, vectors

    def add(self, item_ids, vectors) -> None:
        """Add products; a product already present is replaced (its old vector becomes a tombstone)."""
        item_ids, vectors = self._check(item_ids, vectors)
        if not self._index.is_trained:
            self._train(vectors)
        self._bury([i for i in item_ids.tolist() if i in self._position])
        start = len(self.ids)
        self._index.add(vectors)
        self.ids = np.concatenate([self.ids, item_ids])
        self.alive = np.concatenate([self.alive, np.ones(len(item_ids), dtype=bool)])
        self._position.update(zip(item_ids.tolist(), range(start, len(self.ids))))
        self._gpu_index = None

    def _train(self, vectors: np.ndarray) -> None:
        """IVF k-means on a sample: TRAIN_POINTS_PER_LIST per list is plenty, and keeps 1M items fast."""
        lists = getattr(faiss.downcast_index(self._index), "nlist", 0)
        if lists and len(vectors) > TRAIN_POINTS_PER_LIST * lists:
            sample = np.random.default_rng(0).choice(len(vectors), TRAIN_POINTS_PER_LIST * lists, replace=False)
            vectors = vectors[np.sort(sample)]
        self._index.train(vectors)

    update = add  # an update is an add of a known id: same code path on purpose

    def remove(self, item_ids) -> None:
        item_ids = np.atleast_1d(np.asarray(item_ids, dtype=np.int64)).tolist()
        unknown = [i for i in item_ids if i not in self._position]
        if unknown:
            raise ItemIndexError(f"cannot remove product(s) {unknown[:10]}: not in the index")
        self._bury(item_ids)
        if (~self.alive).sum() > COMPACT_DEAD_FRACTION * len(self.alive):
            self.compact()

    def _bury(self, item_ids: list[int]) -> None:
        for item_id in item_ids:
            self.alive[self._position.pop(item_id)] = False
        self._gpu_index = None

    def vectors_of(self, item_ids) -> np.ndarray:
        return self._reconstruct([self._position[int(i)] for i in item_ids])

    def _reconstruct(self, positions) -> np.ndarray:
        if len(positions) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self._index.reconstruct_batch(np.asarray(positions, dtype=np.int64))

    def compact(self) -> None:
        """Rebuild without tombstones (a trained IVF quantizer is kept)."""
        live = np.flatnonzero(self.alive)
        live_ids, vectors = self.ids[live], self._reconstruct(live)
        self._index.reset()
        self.ids, self.alive, self._position = np.zeros(0, np.int64), np.zeros(0, bool), {}
        if len(live):
            self.add(live_ids, vectors)

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k products per query row: (scores float32 (n, k), product ids int64 (n, k), -1 = none)."""
        queries = np.ascontiguousarray(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        if queries.shape[1] != self.dim:
            raise ItemIndexError(f"query vectors have dim {queries.shape[1]}; the index holds dim {self.dim}")
        k = max(1, min(int(k), len(self)))
        if len(self) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        scores, positions = self._search_positions(queries, k)
        ids = np.where(positions >= 0, self.ids[np.maximum(positions, 0)], -1)
        return scores, ids

    def _search_positions(self, queries, k):
        if self.alive.all():
            return self._searcher().search(queries, k)
        params = self._params(faiss.IDSelectorBatch(np.flatnonzero(~self.alive).astype(np.int64)))
        return self._index.search(queries, k, params=params)

    def _params(self, dead: faiss.IDSelector):
        skip = faiss.IDSelectorNot(dead)
        inner = faiss.downcast_index(self._index)
        if hasattr(inner, "nprobe"):
            return faiss.SearchParametersIVF(sel=skip, nprobe=self.config["nprobe"])
        if hasattr(inner, "hnsw"):
            return faiss.SearchParametersHNSW(sel=skip, efSearch=self.config["ef_search"])
        return faiss.SearchParameters(sel=skip)

    def _searcher(self):
        """The GPU copy when faiss has GPUs (rebuilt lazily after changes), else the CPU index."""
        if not self.use_gpu or faiss.get_num_gpus() == 0:
            return self._index
        if self._gpu_index is None:
            self._gpu_index = faiss.index_cpu_to_all_gpus(self._index)
        return self._gpu_index

