import io

import numpy as np
import pytest
from PIL import Image

from features.errors import ImageError
from features.images import open_image, pad_to_square


def _png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_pad_to_square_centres_on_white_without_cropping():
    red = Image.new("RGB", (60, 80), (255, 0, 0))
    square = np.asarray(pad_to_square(red))
    assert square.shape == (80, 80, 3)
    assert (square[:, :10] == 255).all() and (square[:, 70:] == 255).all()
    assert (square[:, 10:70] == [255, 0, 0]).all()


def test_pad_to_square_resizes():
    assert pad_to_square(Image.new("RGB", (300, 100)), 64).size == (64, 64)


def test_transparent_background_becomes_white():
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert np.asarray(open_image(_png(clear))).min() == 255


def test_type_comes_from_content_not_name(tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    with pytest.raises(ImageError, match="not a readable image"):
        open_image(fake)


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ImageError, match="limit is"):
        open_image(_png(Image.new("1", (6000, 6000))))
