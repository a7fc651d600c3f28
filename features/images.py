"""Safe image loading and the one canonical preprocessing step: pad to a white square."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image

from features.errors import ImageError

# Product photos are small; anything above this many pixels is refused as a possible
# decompression bomb (PIL's own limit is ~89 Mpx, far more than a product card needs).
MAX_IMAGE_PIXELS = 25_000_000
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP"}
WHITE = (255, 255, 255)


def open_image(source: str | Path | bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open an image from a path or bytes, check its real type and size, return it as RGB.

    The type comes from the content, never from a file name. Size is checked from the header
    before any pixel is decoded, so a decompression bomb costs nothing.
    """
    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    except FileNotFoundError:
        raise ImageError(f"{name}: image file not found") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read image file ({exc.strerror})") from None
    with stream:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(stream)
                _check_header(image, name, max_pixels)
                image.load()
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name}: image too large (decompression bomb guard)") from None
        except Exception as exc:  # PIL raises many types for corrupt files
            raise ImageError(f"{name}: not a readable image ({type(exc).__name__}: {exc})") from None
    return _to_rgb(image)


def _check_header(image: Image.Image, name: str, max_pixels: int) -> None:
    if image.format not in ALLOWED_FORMATS:
        raise ImageError(f"{name}: unsupported image type {image.format!r}; expected one of {sorted(ALLOWED_FORMATS)}")
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"{name}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(f"{name}: image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white (a product on a transparent background is on white)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, WHITE)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def pad_to_square(image: Image.Image, size: int | None = None) -> Image.Image:
    """Centre the image on a white square (never crop a product), optionally resize it."""
    width, height = image.size
    side = max(width, height)
    canvas = Image.new("RGB", (side, side), WHITE)
    canvas.paste(image.convert("RGB"), ((side - width) // 2, (side - height) // 2))
    if size is not None and side != size:
        canvas = canvas.resize((size, size), Image.Resampling.BICUBIC)
    return canvas
