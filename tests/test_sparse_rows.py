"""SparseRows: bulk CSR plus a per-row overlay of edits, folded back on to_csr."""
import numpy as np

from features.sparse_rows import SparseRows


def test_edits_and_replacements_fold_into_the_csr():
    rows = SparseRows.from_entries([0, 0, 1, 1], [0, 2, 1, 1], [1.0, 2.0, 3.0, 4.0], (2, 3))
    assert rows.row(1)[1].tolist() == [7.0]  # duplicates summed
    rows.add(0, 1, 5.0)
    rows.scale(0, 2.0)
    rows.replace(1, np.array([2]), np.array([9.0]))  # the old entry at column 1 is gone
    rows.replace(3, [0], [1.5])  # a row past the end grows the matrix
    assert rows.n_rows == 4
    assert rows.to_csr(3).toarray().tolist() == [[2.0, 10.0, 4.0], [0.0, 0.0, 9.0], [0, 0, 0], [1.5, 0, 0]]


def test_a_bulk_build_without_edits_is_returned_as_built():
    rows = SparseRows.from_entries([0, 1, 1], [2, 0, 0], [1.0, 2.0, 3.0], (2, 3))
    matrix = rows.to_csr(3)
    assert matrix is rows.to_csr(3) and matrix.toarray().tolist() == [[0, 0, 1], [5, 0, 0]]
