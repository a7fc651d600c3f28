"""A catalogue's photos as one uint8 array, padded to white squares: the training input.

Training reads thousands of small photos many times; decoding JPEGs each epoch would dominate,
so they are decoded once, padded, resized and kept as one array (on the GPU when training there).
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from features.catalogue import Catalogue
from features.errors import TailorcardError
from features.images import pad_to_square

HELDOUT_PERCENT = 10  # products whose id hashes below this are never trained on


def is_heldout(product_id: int) -> bool:
    """Fixed held-out split by product id: stable across catalogue order and machines."""
    digest = hashlib.sha256(str(int(product_id)).encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELDOUT_PERCENT


@dataclass
class ImagePack:
    ids: np.ndarray  # int64 [n]
    images: np.ndarray  # uint8 [n, size, size, 3]

    @property
    def heldout(self) -> np.ndarray:
        return np.array([is_heldout(p) for p in self.ids], dtype=bool)

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    def select(self, mask: np.ndarray) -> "ImagePack":
        return ImagePack(self.ids[mask], self.images[mask])


def build_image_pack(catalogue: Catalogue, size: int = 64, progress: bool = True) -> ImagePack:
    """The photos of the products that have one (text-only products have nothing to pack)."""
    ids = np.array(catalogue.photo_ids, dtype=np.int64)
    if len(ids) == 0:
        raise TailorcardError(f"none of the {len(catalogue)} products has a photo; an image pack needs photos")
    images = np.empty((len(ids), size, size, 3), dtype=np.uint8)
    for row, product_id in enumerate(tqdm(ids, disable=not progress, desc="packing images", unit="img")):
        images[row] = np.asarray(pad_to_square(catalogue.load_image(int(product_id)), size))
    return ImagePack(ids, images)


def save_image_pack(pack: ImagePack, path: str | Path, webp_quality: int | None = None) -> None:
    """Raw pixels by default; with `webp_quality`, each image as WebP (a quarter the size, for transport)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if webp_quality is None:
        np.savez_compressed(path, ids=pack.ids, images=pack.images)
        return
    encoded = [_webp(image, webp_quality) for image in pack.images]
    offsets = np.cumsum([0] + [len(b) for b in encoded]).astype(np.int64)
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    np.savez(path, ids=pack.ids, webp=blob, offsets=offsets, size=pack.size)


def _webp(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "WEBP", quality=quality, method=6)
    return buffer.getvalue()


def _decode_webp(blob: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    images = np.empty((len(offsets) - 1, size, size, 3), dtype=np.uint8)
    data = blob.tobytes()
    for row in range(len(images)):
        images[row] = np.asarray(Image.open(io.BytesIO(data[offsets[row]:offsets[row + 1]])).convert("RGB"))
    return images


def load_image_pack(path: str | Path) -> ImagePack:
    path = Path(path)
    if not path.is_file():
        raise TailorcardError(f"{path}: image pack not found (make one with `tailorcard pack-images`)")
    with np.load(path, allow_pickle=False) as saved:
        images = saved["images"] if "images" in saved else _decode_webp(saved["webp"], saved["offsets"], int(saved["size"]))
        pack = ImagePack(saved["ids"].astype(np.int64), images)
    if pack.images.ndim != 4 or pack.images.shape[1:] != (pack.size, pack.size, 3) or len(pack.ids) != len(pack.images):
        raise TailorcardError(f"{path}: expected ids [n] and images [n, s, s, 3]; got {pack.ids.shape} and {pack.images.shape}")
    return pack
