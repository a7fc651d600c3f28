"""A segment's taste narrowed to one article type: the mean of that type's products nearest the taste."""
import numpy as np
import pytest

from features.errors import TailorcardError
from features.type_taste import taste_in_colour, taste_within_type


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def test_the_nearest_products_of_the_type_make_the_taste():
    shirts = unit([[1, 0, 0], [0.9, 0.1, 0], [0, 0, 1]])  # two near the taste, one far
    taste = unit([1, 0.05, 0.2])
    narrowed = taste_within_type(taste, shirts, k=2)
    assert np.allclose(narrowed, unit(shirts[0] + shirts[1]), atol=1e-6)
    assert np.linalg.norm(narrowed) == pytest.approx(1.0)
    assert np.allclose(taste_within_type(taste, shirts, k=1), shirts[0])


def test_a_type_without_products_keeps_the_taste_and_bad_shapes_are_refused():
    taste = unit([1, 2, 2])
    assert np.allclose(taste_within_type(taste, np.zeros((0, 3))), taste)
    with pytest.raises(TailorcardError, match=r"\[n, 3\]"):
        taste_within_type(taste, np.ones((2, 4)))
    with pytest.raises(TailorcardError, match="k must be"):
        taste_within_type(taste, np.ones((2, 3)), k=0)


def test_a_product_in_a_colour_is_drawn_from_its_type_in_that_colour_nearest_the_product():
    vectors = unit([[1, 0, 0], [0.8, 0.6, 0], [0.6, 0.8, 0], [0, 0, 1], [0.9, 0.1, 0.1]])
    types = ["Shirts", "Shirts", "Shirts", "Shirts", "Shoes"]
    colours = ["White", "Blue", "Blue", "Blue", "Blue"]
    # the blue shirts nearest the white shirt (row 0): rows 1 and 2, never the blue shoe (row 4)
    in_blue = taste_in_colour(vectors[0], "Shirts", "Blue", types, colours, vectors, k=2)
    assert np.allclose(in_blue, unit(vectors[1] + vectors[2]), atol=1e-6)
    assert taste_in_colour(vectors[0], "Shirts", "Pink", types, colours, vectors) is None
