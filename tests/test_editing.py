"""Editing: the background mask, RePaint-style inpainting that never touches product pixels, style transfer."""
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from features.images import pad_to_square
from imagegen.editing import (background_mask, inpaint_background, latent_mask, repair_background, replace_background,
                              transfer_style)
from imagegen.variants import VariantParams, personalize
from imagegen_helpers import tiny_generator, unit_embeddings
from variant_helpers import StubJudge


@pytest.fixture(scope="module")
def generator():
    return tiny_generator()


def framed_shirt() -> np.ndarray:
    """A red product with a white logo inside, on white, 24x18 (not square: padding adds background)."""
    image = np.full((24, 18, 3), 255, np.uint8)
    image[4:20, 3:15] = (200, 30, 30)
    image[10:13, 7:10] = 255  # enclosed white: product, not background
    return image


def test_background_is_white_connected_to_the_border_only():
    image = framed_shirt()
    background = background_mask(image)
    assert background[0, 0] and background[23, 17]
    assert not background[4:20, 3:15].any()  # the product, its white logo included


def test_latent_mask_marks_cells_that_are_mostly_background():
    background = np.ones((16, 16), bool)
    background[:8, :8] = False
    mask = latent_mask(background, 4)
    assert mask.shape == (1, 1, 4, 4)
    assert mask[0, 0, :2, :2].sum() == 0 and mask[0, 0, 2:, 2:].min() == 1


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_inpainting_keeps_every_product_pixel_bit_identical(generator, strength):
    photo = Image.fromarray(framed_shirt())
    result = inpaint_background(generator, photo, unit_embeddings(1)[0], strength=strength, seed=3)
    original = np.asarray(pad_to_square(photo))
    product = ~background_mask(original)
    assert result.shape == original.shape and result.dtype == np.uint8
    assert np.array_equal(result[product], original[product])
    assert (result[~product] != original[~product]).any()  # the background was redrawn


def test_replaced_background_of_a_real_photo_keeps_the_product(generator, sample_catalogue):
    photo = sample_catalogue.load_image(sample_catalogue.ids[1])
    product_vector, scene_vector = unit_embeddings(2, seed=4)
    result = replace_background(generator, photo, product_vector, scene_vector, weight=0.7)
    original = np.asarray(pad_to_square(photo))
    product = ~background_mask(original)
    assert np.array_equal(result[product], original[product])


def test_repaired_background_keeps_the_product_and_is_reproducible(generator):
    photo = Image.fromarray(framed_shirt())
    product_vector = unit_embeddings(1, seed=6)[0] * 3.0  # any length: the condition is its direction
    result = repair_background(generator, photo, product_vector, seed=2)
    original = np.asarray(pad_to_square(photo))
    product = ~background_mask(original)
    assert np.array_equal(result[product], original[product])
    assert np.array_equal(result, inpaint_background(generator, photo, product_vector / 3.0, strength=0.5, seed=2))


def test_a_photo_without_white_background_is_returned_unchanged(generator):
    photo = np.full((16, 16, 3), 90, np.uint8)
    assert np.array_equal(inpaint_background(generator, Image.fromarray(photo), unit_embeddings(1)[0]), photo)


def test_style_transfer_is_a_variant_toward_the_style_photos_embedding(generator):
    photo, style = Image.fromarray(framed_shirt()), Image.new("RGB", (16, 16), (20, 20, 200))
    judge = StubJudge("Shirts", vector=unit_embeddings(1, seed=9)[0])
    params = VariantParams(strength=0.5, candidates=1, min_gain=-2.0)
    styled = transfer_style(generator, judge, photo, style, weight=0.3, params=params)
    direct = personalize(generator, judge, photo, judge.embed([style])[0], replace(params, taste_weight=0.3))
    assert styled.params.taste_weight == 0.3
    assert np.array_equal(styled.image, direct.image)
