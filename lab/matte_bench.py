"""`tailorcard bench matte`: the matte's IoU on held-out data with known masks, its fallback rate and CPU speed.

- composites: held-out catalogue products (never trained on) pasted over squares of clothing-photos'
  validation photos (never trained on), a fixed seeded set; the paste alpha is the truth. `matte_iou` (the
  issue's) uses the photos' top corners, floor, bed or wall: a background with no product in it, so the paste
  alpha is the whole truth. `matte_iou_garment_backgrounds` uses their centre squares, each holding another
  garment that the truth calls background (how this bench measured before 2026-12-06).
- catalogue photos: held-out fashion-small photos against their pseudo-masks (only trusted ones count for IoU;
  all count for the fallback rate); `pseudo_masks_agreeing`: the share of trusted pseudo-masks the matte agrees
  with (IoU >= imagegen.matte.inference.MIN_MASK_AGREEMENT), the ones cards use.
- amateur photos: clothing-photos validation photos at full size (no truth): fallback rate and speed with the
  guided upsampling.
IoU of alpha >= 0.5 against truth >= 0.5, per image, averaged; unsure mattes count too.
`sure_but_wrong_composites`: the share of sure mattes (those a card would use) with IoU under 0.9: the fault
a more confident matte risks, a card whose product lost or gained a part.
Edges at card size: the first EDGE_COMPOSITES composites enlarged 4x (bicubic, as a small catalogue photo is
enlarged for its card), matted, and put over a plain backdrop with the alpha a card uses
(imagegen.presentation.compose.card_alpha); over the sure ones, within EDGE_RING_PX card pixels of the true outline:
  edge_glow_delta_e  mean CIELAB delta E from the new backdrop on pixels the truth calls background (the old
                     background showing around the product: a glow or halo; 0 is none)
  edge_cut_delta_e   mean delta E from the enlarged photo on pixels the truth calls product (the product's own
                     edge replaced or blended away; 0 is none)
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from imagegen.colour import delta_e, srgb_to_lab
from imagegen.errors import BenchError
from imagegen.matte.foreground import composite
from imagegen.matte.data import (BENCH_MIX, MATTE_BACKGROUNDS, build_product_set, catalogue_products, load_backgrounds,
                                 random_batch, read_photo)
from imagegen.matte.inference import MIN_MASK_AGREEMENT, mask_iou, matte
from imagegen.matte.model import MatteNet
from imagegen.matte.pseudo_mask import pseudo_mask
from imagegen.presentation.compose import card_alpha

COMPOSITE_SIZE = 80
SURE_BUT_WRONG_IOU = 0.9  # a sure matte under this IoU would put a cut (or grown) product on a card
EDGE_COMPOSITES, CARD_SCALE, EDGE_RING_PX = 100, 4, 6
EDGE_BACKDROP = np.array([40, 60, 140], dtype=np.uint8)  # a plain blue, unlike any clothing-photos background


def bench_matte(model: MatteNet, catalogue_dir: str | Path, backgrounds_dir: str | Path, *, composites: int = 400,
                photos: int = 400, amateur_photos: int = 50, seed: int = 0, log=print) -> dict:
    heldout = catalogue_products(catalogue_dir, heldout=True, seed=seed)
    if len(heldout) < max(photos, composites):
        raise BenchError(f"{catalogue_dir}: {len(heldout)} held-out products; the bench needs "
                         f"{max(photos, composites)} (--photos, --composites)")
    composite_result = _bench_composites(model, heldout[:2 * composites], backgrounds_dir, composites, seed, log)
    photo_result = _bench_catalogue_photos(model, heldout[:photos])
    amateur_result = _bench_amateur_photos(model, backgrounds_dir, amateur_photos)
    return {**composite_result, **photo_result, **amateur_result, "device": "cpu",
            "torch_threads": torch.get_num_threads(), "seed": seed}


def _bench_composites(model, products, backgrounds_dir, count: int, seed: int, log) -> dict:
    product_set = build_product_set(products, log=log)
    result = _composite_iou(model, product_set, backgrounds_dir, MATTE_BACKGROUNDS, count, seed, log, edges=True)
    garment_iou = _composite_iou(model, product_set, backgrounds_dir, "centre", count, seed, log)
    return {**result, "matte_iou_garment_backgrounds": garment_iou["matte_iou"]}


def _composite_iou(model, product_set, backgrounds_dir, region: str, count: int, seed: int, log,
                   edges: bool = False) -> dict:
    backgrounds = load_backgrounds(backgrounds_dir, "validation", log=log, region=region)
    images, truth = random_batch(product_set, backgrounds, count, size=COMPOSITE_SIZE, mix=BENCH_MIX,
                                 generator=torch.Generator().manual_seed(seed))
    photos = (images * 255).round().byte().permute(0, 2, 3, 1).numpy()
    alphas, confidences, seconds = _matte_all(model, photos)
    iou = mask_iou(alphas, truth.numpy()[:, 0])
    sure = np.array([c.sure for c in confidences])
    edge_errors = _edge_errors(model, photos[:EDGE_COMPOSITES], truth.numpy()[:EDGE_COMPOSITES, 0]) if edges else {}
    return {"matte_iou": round(float(iou.mean()), 4),
            "matte_iou_sure": round(float(iou[sure].mean()), 4) if sure.any() else None,
            "sure_but_wrong_composites": round(float((iou[sure] < SURE_BUT_WRONG_IOU).mean()), 4) if sure.any() else None,
            "fallback_rate_composites": round(float(1 - sure.mean()), 4), "composites": count,
            "ms_per_composite": round(1000 * seconds / count, 2), **edge_errors}


def _edge_errors(model, photos: np.ndarray, truth: np.ndarray) -> dict:
    glow, cut = [], []
    for photo, true_alpha in zip(photos, truth):
        size = (photo.shape[1] * CARD_SCALE, photo.shape[0] * CARD_SCALE)
        big = np.asarray(Image.fromarray(photo).resize(size, Image.BICUBIC))
        alpha, confidence = matte(big, model)
        if not confidence.sure:
            continue
        true_big = np.asarray(Image.fromarray(true_alpha.astype(np.float32)).resize(size, Image.BILINEAR))
        card = srgb_to_lab(composite(big, card_alpha(alpha), np.broadcast_to(EDGE_BACKDROP, big.shape).copy()))
        outside = (true_big <= 0.01) & (ndimage.distance_transform_edt(true_big < 0.5) <= EDGE_RING_PX)
        inside = (true_big >= 0.99) & (ndimage.distance_transform_edt(true_big >= 0.5) <= EDGE_RING_PX)
        if outside.any() and inside.any():
            glow.append(float(delta_e(card[outside], srgb_to_lab(EDGE_BACKDROP)).mean()))
            cut.append(float(delta_e(card[inside], srgb_to_lab(big)[inside]).mean()))
    if not glow:
        return {"edge_glow_delta_e": None, "edge_cut_delta_e": None, "edge_composites": 0}
    return {"edge_glow_delta_e": round(float(np.mean(glow)), 3), "edge_cut_delta_e": round(float(np.mean(cut)), 3),
            "edge_composites": len(glow)}


def _bench_catalogue_photos(model, products) -> dict:
    photos = [read_photo(path) for _, path in products]
    masks = [pseudo_mask(photo) for photo in photos]
    alphas, confidences, seconds = _matte_all(model, photos)
    trusted = [i for i, mask in enumerate(masks) if mask.trusted]
    iou = [float(mask_iou(alphas[i][None], masks[i].alpha[None])[0]) for i in trusted]
    return {"pseudo_mask_iou": round(float(np.mean(iou)), 4) if iou else None, "photos": len(photos),
            "photos_with_trusted_pseudo_mask": len(trusted),
            "pseudo_masks_agreeing": round(float(np.mean(np.array(iou) >= MIN_MASK_AGREEMENT)), 4) if iou else None,
            "fallback_rate": round(float(np.mean([not c.sure for c in confidences])), 4),
            "ms_per_photo": round(1000 * seconds / len(photos), 2),
            "photo_size": "x".join(map(str, photos[0].shape[1::-1]))}


def _bench_amateur_photos(model, backgrounds_dir, count: int) -> dict:
    paths = sorted((Path(backgrounds_dir) / "validation").glob("*/*.jpg"))[:count]
    if not paths:
        return {}
    _, confidences, seconds = _matte_all(model, [read_photo(path) for path in paths])
    return {"amateur_photos": len(paths), "fallback_rate_amateur_photos": round(float(np.mean(
        [not c.sure for c in confidences])), 4), "ms_per_amateur_photo": round(1000 * seconds / len(paths), 2)}


def _matte_all(model, photos) -> tuple[list[np.ndarray], list, float]:
    matte(photos[0], model)  # warm-up: the first call allocates
    start = time.perf_counter()
    results = [matte(photo, model) for photo in photos]
    seconds = time.perf_counter() - start
    return [alpha for alpha, _ in results], [confidence for _, confidence in results], seconds
