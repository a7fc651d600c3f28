"""Safe image loading and the one canonical preprocessing step: pad to a white square."""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from features.errors import ImageError

# Product photos are small; anything above this many pixels is refused as a possible
# decompression bomb (PIL's own limit is ~89 Mpx, far more than a product card needs).
MAX_IMAGE_PIXELS = 25_000_000
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP"}
WHITE = (255, 255, 255)
# PIL's messages quote the stream they read ("<_io.BytesIO object at 0x7f...>"): noise to a client, and a
# memory address is not for the outside to see.
_OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")


def open_image(source: str | Path | bytes, max_pixels: int = MAX_IMAGE_PIXELS, name: str | None = None) -> Image.Image:
    """Open an image from a path or bytes, check its real type and size, return it as RGB.

    The type comes from the content, never from a file name. Size is checked from the header
    before any pixel is decoded, so a decompression bomb costs nothing. `name` is how messages
    call the image (default: its path, or "<bytes>").
    """
    return _to_rgb(_read_image(source, max_pixels, name, decode=True))


def check_image(source: str | Path | bytes, max_pixels: int = MAX_IMAGE_PIXELS, name: str | None = None) -> None:
    """The checks of `open_image` from the header alone (no pixel decoded): cheap enough for a whole catalogue."""
    _read_image(source, max_pixels, name, decode=False)


def _read_image(source: str | Path | bytes, max_pixels: int, name: str | None, decode: bool) -> Image.Image:
    name = name or ("<bytes>" if isinstance(source, (bytes, bytearray)) else str(source))
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
                if decode:
                    image.load()
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name}: image too large (decompression bomb guard)") from None
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not a readable image (cannot identify an image; expected a "
                             f"{'/'.join(sorted(ALLOWED_FORMATS))} file)") from None
        except Exception as exc:  # PIL raises many types for corrupt files
            detail = _OBJECT_REPR.sub("the image data", str(exc))
            raise ImageError(f"{name}: not a readable image ({type(exc).__name__}: {detail})") from None
    return image


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
