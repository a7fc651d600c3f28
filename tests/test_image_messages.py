"""What a bad image is called: the problem and the expected types, never PIL's object reprs (memory addresses)."""
from __future__ import annotations

import pytest
from PIL import Image

from features.errors import ImageError
from features.images import open_image


@pytest.mark.parametrize("source", [b"%PDF-1.4 not an image", b"GIF89a"])
def test_an_unidentified_upload_is_named_without_object_reprs(source):
    with pytest.raises(ImageError) as refused:
        open_image(source)
    message = str(refused.value)
    assert message == "<bytes>: not a readable image (cannot identify an image; expected a BMP/GIF/JPEG/PNG/WEBP file)"


def test_an_unidentified_file_is_named_by_its_path(tmp_path):
    (tmp_path / "photo.jpg").write_text("plain text")
    with pytest.raises(ImageError, match=r"photo.jpg: not a readable image \(cannot identify an image;") as refused:
        open_image(tmp_path / "photo.jpg")
    assert "BufferedReader" not in str(refused.value)


def test_other_decoder_errors_lose_their_object_reprs(monkeypatch):
    def failing(stream):
        raise OSError(f"broken data stream when reading {stream}")

    monkeypatch.setattr(Image, "open", failing)
    with pytest.raises(ImageError) as refused:
        open_image(b"\x89PNG")
    assert str(refused.value) == ("<bytes>: not a readable image "
                                  "(OSError: broken data stream when reading the image data)")
