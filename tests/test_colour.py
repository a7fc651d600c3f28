"""Dominant foreground colour, Lab conversion, delta E and the Frechet distance."""
import numpy as np
import pytest

from imagegen.colour import delta_e, dominant_colour, srgb_to_lab
from imagegen.frechet import frechet_distance


@pytest.mark.parametrize("rgb, lab", [
    ((255, 255, 255), (100.0, 0.0, 0.0)),
    ((0, 0, 0), (0.0, 0.0, 0.0)),
    ((255, 0, 0), (53.24, 80.09, 67.20)),  # reference values (D65)
    ((0, 0, 255), (32.30, 79.19, -107.86)),
])
def test_srgb_to_lab_matches_reference_values(rgb, lab):
    np.testing.assert_allclose(srgb_to_lab(np.array(rgb, np.uint8)), lab, atol=0.05)


def product_photo(colour, background=(255, 255, 255), size=64):
    """A coloured block on a white square, with a small dark logo that must not win."""
    image = np.full((size, size, 3), background, np.uint8)
    image[16:56, 20:44] = colour
    image[30:34, 30:34] = (10, 10, 10)
    return image


def test_dominant_colour_ignores_the_white_background_and_small_details():
    lab = dominant_colour(product_photo((30, 60, 160)))
    assert delta_e(lab, srgb_to_lab(np.array((30, 60, 160), np.uint8))) < 1.0


def test_a_white_product_is_white_not_an_error():
    lab = dominant_colour(product_photo((250, 250, 250)))
    assert lab[0] > 95


def test_delta_e_is_euclidean_in_lab():
    assert delta_e(np.array([50.0, 0, 0]), np.array([50.0, 3, 4])) == pytest.approx(5.0)
    assert delta_e(np.zeros((2, 3)), np.ones((2, 3))).shape == (2,)


def test_dominant_colour_rejects_non_rgb_arrays():
    with pytest.raises(ValueError, match=r"\[h, w, 3\].*\(8, 8\)"):
        dominant_colour(np.zeros((8, 8), np.uint8))


def test_frechet_distance_of_a_set_with_itself_is_zero():
    a = np.random.default_rng(0).normal(size=(500, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 3)) * [1.0, 2.0, 3.0]
    b = rng.normal(size=(20000, 3)) * [2.0, 2.0, 1.0] + [1.0, 0.0, 0.0]
    expected = 1.0 + (1 - 2) ** 2 + (2 - 2) ** 2 + (3 - 1) ** 2  # |mu gap|^2 + sum (sd_a - sd_b)^2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.05)


def test_frechet_distance_needs_two_sets_of_one_width():
    with pytest.raises(ValueError, match=r"\(5, 3\) and \(5, 4\)"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
