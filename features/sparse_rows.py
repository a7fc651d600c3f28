"""A growable users x columns sparse matrix: built in bulk as CSR, edited one row at a time.

Bulk builds stay vectorised (scipy); online edits go to a small per-row dict overlay that is
folded back into the CSR on `to_csr()` / save, so neither path pays for the other.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class SparseRows:
    def __init__(self, matrix: sp.csr_matrix | None = None):
        self._base = sp.csr_matrix((0, 0)) if matrix is None else matrix.tocsr()
        self._edited: dict[int, dict[int, float]] = {}

    @classmethod
    def from_entries(cls, rows, cols, values, shape) -> "SparseRows":
        """Duplicate (row, col) entries are summed."""
        matrix = sp.csr_matrix((np.asarray(values, dtype=np.float64), (rows, cols)), shape=shape)
        matrix.sum_duplicates()
        return cls(matrix)

    @property
    def n_rows(self) -> int:
        return max(self._base.shape[0], max(self._edited, default=-1) + 1)

    def row(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """(columns, values) of one row, columns ascending."""
        if r in self._edited:
            entries = sorted(self._edited[r].items())
            return np.array([c for c, _ in entries], dtype=np.int64), np.array([v for _, v in entries])
        if r >= self._base.shape[0]:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        start, end = self._base.indptr[r], self._base.indptr[r + 1]
        return self._base.indices[start:end].astype(np.int64), self._base.data[start:end]

    def _editable(self, r: int) -> dict[int, float]:
        if r not in self._edited:
            self._edited[r] = dict(zip(*(a.tolist() for a in self.row(r))))
        return self._edited[r]

    def scale(self, r: int, factor: float) -> None:
        entries = self._editable(r)
        for c in entries:
            entries[c] *= factor

    def add(self, r: int, col: int, value: float) -> None:
        entries = self._editable(r)
        entries[col] = entries.get(col, 0.0) + value

    def replace(self, r: int, cols, values) -> None:
        """Row r holds exactly these entries from now on (what it held before is dropped unread)."""
        self._edited[r] = dict(zip(np.asarray(cols).tolist(), np.asarray(values, dtype=np.float64).tolist()))

    def to_csr(self, n_cols: int) -> sp.csr_matrix:
        """All rows, edits folded in; the overlay is emptied."""
        n_rows = self.n_rows
        if not self._edited and self._base.shape == (n_rows, n_cols):
            return self._base  # nothing to fold in (a bulk build): no rebuild through COO
        base = self._base.tocoo()
        keep = ~np.isin(base.row, list(self._edited))
        rows = [base.row[keep]] + [np.full(len(e), r) for r, e in self._edited.items()]
        cols = [base.col[keep]] + [np.fromiter(e.keys(), dtype=np.int64, count=len(e)) for e in self._edited.values()]
        vals = [base.data[keep]] + [np.fromiter(e.values(), dtype=np.float64, count=len(e)) for e in self._edited.values()]
        self._base = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(n_rows, n_cols))
        self._edited = {}
        return self._base
