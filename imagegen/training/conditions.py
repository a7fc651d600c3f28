"""The UNet's conditions: one CLIP image embedding per image of the pack, and the space they live in."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from features.image_pack import ImagePack
from imagegen.errors import TrainingError


def load_conditions(path: str | Path, pack: ImagePack, space_id: str | None = None) -> tuple[np.ndarray, str]:
    """Embeddings aligned with the pack, and their space id.

    `.npz` is an embedding store (ids, vectors, space_id), matched to the pack by product id;
    `.npy` is a float32 [n, d] array in pack order, whose `space_id` the caller must name.
    """
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: conditions file not found")
    if path.suffix == ".npy":
        if not space_id:
            raise TrainingError(f"{path}: a plain .npy array does not say its embedding space; pass its space id")
        return np.load(path, allow_pickle=False).astype(np.float32), space_id
    with np.load(path, allow_pickle=False) as store:
        row_of = {int(product_id): row for row, product_id in enumerate(store["ids"])}
        missing = [int(p) for p in pack.ids if int(p) not in row_of]
        if missing:
            raise TrainingError(f"{path}: no embedding for {len(missing)} products of the pack, e.g. {missing[:10]}")
        vectors = store["vectors"][[row_of[int(p)] for p in pack.ids]].astype(np.float32)
        return vectors, str(store["space_id"])


def encode_conditions(pack: ImagePack, encoder) -> np.ndarray:
    """Embed the pack's own (already padded) images with the encoder."""
    return encoder.encode_images([Image.fromarray(image) for image in pack.images], progress=True)
