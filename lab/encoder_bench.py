"""`tailorcard bench encoder`: zero-shot quality and speed on products the training never saw."""
from __future__ import annotations

import time

import torch

from features.catalogue import Catalogue
from features.encoder.clip_encoder import ClipEncoder
from features.encoder.evaluation import encoder_quality
from features.errors import TailorcardError
from features.image_pack import is_heldout


def heldout_products(catalogue: Catalogue) -> Catalogue:
    return catalogue.subset([pid for pid in catalogue.ids if is_heldout(pid)])


def bench_encoder(encoder: ClipEncoder, catalogue: Catalogue) -> dict:
    """Scores over every product of `catalogue` that has a photo, plus images/s of the full encode path
    (decode, pad to square, preprocess, forward) on this machine. Zero-shot scores come only for the
    attribute columns the catalogue has (see encoder_quality)."""
    catalogue = catalogue.subset(catalogue.photo_ids)
    if len(catalogue) == 0:
        raise TailorcardError("no product of this catalogue has a photo; the encoder bench scores photos")
    images = [catalogue.load_image(pid) for pid in catalogue.ids]
    started = time.perf_counter()
    vectors = encoder.encode_images(images)
    seconds = time.perf_counter() - started
    scores = encoder_quality(vectors, catalogue.products, lambda texts: encoder.encode_texts(texts, progress=False))
    return {
        **{k: round(v, 4) for k, v in scores.items()},
        "images_per_s": round(len(images) / seconds, 1),
        "products": len(images),
        "device": str(encoder.device),
        "torch_threads": torch.get_num_threads(),
        "encoder": encoder.spec,
        "space_id": encoder.space_id,
    }
