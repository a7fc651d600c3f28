"""unit_rows: the one row normaliser that slerp, taste segments and the prompt classifier share."""
import numpy as np
import pytest

from features.vectors import unit_rows


def test_rows_get_unit_length_in_the_asked_dtype():
    rows = np.array([[3.0, 4.0], [0.0, -2.0]])
    assert unit_rows(rows).tolist() == [[0.6, 0.8], [0.0, -1.0]]
    assert unit_rows(rows).dtype == np.float64
    assert unit_rows(rows, dtype=np.float32).dtype == np.float32


def test_a_single_vector_becomes_one_row():
    assert unit_rows([3.0, 4.0]).tolist() == [[0.6, 0.8]]


def test_zero_rows_are_refused_unless_allowed_then_they_stay_zero():
    rows = np.array([[3.0, 4.0], [0.0, 0.0], [1e-13, 0.0]])
    with pytest.raises(ValueError, match=r"zero vector \(rows \[1, 2\]\)"):
        unit_rows(rows)
    kept = unit_rows(rows, allow_zero=True)
    assert kept[1].tolist() == [0.0, 0.0] and kept[0].tolist() == [0.6, 0.8]


def test_rows_come_back_contiguous_for_faiss():
    columns_first = np.asfortranarray(np.arange(1.0, 13.0).reshape(4, 3))
    rows = unit_rows(columns_first, dtype=np.float32, allow_zero=True)
    assert rows.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)
