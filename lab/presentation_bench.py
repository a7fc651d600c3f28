"""`tailorcard bench presentation`: do scene cards keep the product, follow the segment, and stay cheap?

Segments are k-means of the catalogue's own product embeddings (K of them): every catalogue has those, with or
without shoppers, so the bench runs on any store. For each held-out product with a photo, one card per segment
is painted from the same noise, so cards differ by their condition alone. Measured:
  product_pixels_identical  share of scene cards whose product pixels (alpha == 1) are the card-size photo's
  taste_specificity         over products and segment pairs s != t: share where the card made for s is nearer
                            s's centroid than the card made for t is (CLIP cosine); 0.5 is chance. The
                            presenter keeps the best of policy.candidates backdrops by the same encoder, so
                            this says the cards moved toward their segment in *this* CLIP space; the grid and
                            background_delta_e say whether a person sees it
  background_delta_e        median CIELAB delta E between the mean backdrop colours of one product's cards for
                            two segments
  fallback_rate             share of products that keep their own photo (no sure matte), with the reasons
  fallback_rate_heldout     the same over up to `fallback_products` held-out products (the matte's decision
                            only, no painting): at a rate near 0.3, 24 products give it with a standard error
                            of 0.09, 400 with 0.02
  fallback_kinds_heldout    how many of those kept their photo for each kind of reason (numbers shown as #)
  seconds_per_variant       wall seconds per scene card on this machine's CPU (matte, painting, composite)
  min_long_side             the smallest long side of any card served (originals at card size included)
  fd_clip                   Frechet distance (CLIP space) of painted squares to real photos of the catalogue,
                            conditioned on the segments and unconditioned (a zero condition)
"""
from __future__ import annotations

import re
import time
from collections import Counter
from itertools import permutations

import numpy as np
from PIL import Image

from features.catalogue import load_catalogue
from features.image_pack import is_heldout
from imagegen.colour import delta_e, srgb_to_lab
from imagegen.errors import BenchError
from imagegen.frechet import frechet_distance
from imagegen.presentation.compose import generator_input, matte_photo, product_unchanged
from imagegen.presentation.policy import SCENE
from recsys.segments import TasteSegments


def bench_presentation(presenter, encoder, catalogue_dir, *, products: int = 24, segments: int = 8, seed: int = 0,
                       fallback_products: int = 400, log=print) -> tuple[dict, Image.Image]:
    """The metrics (module docstring) and a grid PNG: rows are products, columns the photo then one card per segment."""
    presenter.check_encoder(encoder)
    catalogue = load_catalogue(catalogue_dir, check_images=False)
    chosen = _heldout_photos(catalogue, products, seed)
    centroids = _segments(catalogue, encoder, segments, seed)
    rows, grid_rows, reasons, seconds, painted = [], [], Counter(), [], []
    for n, key in enumerate(chosen):
        photo = catalogue.load_image(key)
        started = time.perf_counter()
        cards = presenter.present_segments(photo, SCENE, centroids)
        seconds.append((time.perf_counter() - started) / len(centroids))
        pixels, _ = presenter.at_card_size(photo)
        if cards[0].image is None:
            reasons[cards[0].reason] += 1
            continue
        matted, _ = matte_photo(pixels, presenter.matte_model)
        rows.append(_measure(encoder, matted, [card.image for card in cards], centroids))
        grid_rows.append([pixels] + [card.image for card in cards])
        painted.append(_painted_squares(presenter, photo, matted, centroids, seed))
        log(f"bench presentation: {n + 1}/{len(chosen)} products")
    heldout = _heldout_fallbacks(presenter, catalogue, _heldout_photos(catalogue, fallback_products, seed))
    if not rows:  # every product kept its own photo: say why, measure nothing else
        return {"fallback_rate": 1.0, "fallback_reasons": dict(reasons.most_common(5)), **heldout,
                "products": len(chosen), "segments": segments, "variants": 0}, None
    summary = _summary(rows, reasons, seconds, painted, encoder, catalogue, chosen, len(chosen), segments)
    return {**summary, **heldout}, _grid(grid_rows)


def _heldout_fallbacks(presenter, catalogue, keys: list[int]) -> dict:
    """The share of these products whose photo would keep its presentation (the matte's decision, as cards make it),
    and how many kept it for each kind of reason (the reason with its numbers as #: what blocks the most)."""
    reasons = [matte_photo(presenter.at_card_size(catalogue.load_image(key))[0], presenter.matte_model)[1]
               for key in keys]
    kinds = Counter(re.sub(r"\d+(\.\d+)?", "#", reason) for reason in reasons if reason is not None)
    return {"fallback_rate_heldout": round(float(np.mean([reason is not None for reason in reasons])), 4),
            "fallback_products": len(keys), "fallback_kinds_heldout": dict(kinds.most_common())}


def _heldout_photos(catalogue, limit: int, seed: int) -> list[int]:
    keys = [key for key in catalogue.photo_ids if is_heldout(key)] or list(catalogue.photo_ids)
    if not keys:
        raise BenchError("the catalogue has no product with a photo: nothing to present")
    order = np.random.default_rng(seed).permutation(len(keys))
    return [keys[i] for i in order[:limit]]


def _segments(catalogue, encoder, k: int, seed: int) -> np.ndarray:
    """K segment centroids: k-means of the catalogue's photo embeddings (up to 2,000 of them)."""
    keys = list(catalogue.photo_ids)
    sample = [keys[i] for i in np.random.default_rng(seed + 1).permutation(len(keys))[:2000]]
    vectors = encoder.encode_images([catalogue.load_image(key) for key in sample])
    return TasteSegments(k=k, seed=seed).fit(vectors).centroids


def _measure(encoder, matted, cards: list[np.ndarray], centroids: np.ndarray) -> dict:
    embedded = encoder.encode_images([Image.fromarray(card) for card in cards])
    near = embedded @ centroids.T  # [card made for s, centroid t]
    pairs = list(permutations(range(len(cards)), 2))
    backdrop = matted.alpha < 0.05  # a trained matte leaves faint alpha where a pseudo-mask has exact zeros
    colours = [srgb_to_lab(card[backdrop].mean(axis=0, keepdims=True).astype(np.uint8))[0] for card in cards]
    return {"identical": [product_unchanged(card, matted) for card in cards],
            "specific": [near[s, s] > near[t, s] for s, t in pairs],
            "delta_e": [float(delta_e(colours[s], colours[t])) for s, t in pairs if s < t],
            "long_side": min(max(card.shape[:2]) for card in cards)}


def _painted_squares(presenter, photo, matted, centroids: np.ndarray, seed: int) -> dict:
    """The generator's own squares for the first segment and for the zero condition (fd_clip's rows)."""
    scenes = presenter.scenes
    square, repaint, _ = generator_input(matted, scenes.settings.image_size)
    rows = presenter.candidate_rows(photo, np.vstack([centroids[:1], np.zeros_like(centroids[:1])]))
    conditions = np.vstack([rows[0][:1], rows[1][:1]])  # the first candidate for segment 0, and no condition
    images = scenes.paint(np.stack([square] * 2), np.stack([repaint] * 2), conditions, seed=seed)
    return {"conditional": images[0], "unconditional": images[1]}


def _summary(rows, reasons, seconds, painted, encoder, catalogue, chosen, tried: int, k: int) -> dict:
    real = encoder.encode_images([catalogue.load_image(key) for key in chosen])
    fd = {name: round(frechet_distance(encoder.encode_images([Image.fromarray(p[name]) for p in painted]), real), 4)
          for name in ("conditional", "unconditional")} if len(painted) >= 2 else None
    return {
        "product_pixels_identical": float(np.mean([x for row in rows for x in row["identical"]])),
        "taste_specificity": round(float(np.mean([x for row in rows for x in row["specific"]])), 4),
        "background_delta_e": round(float(np.median([x for row in rows for x in row["delta_e"]])), 3),
        "fallback_rate": round(sum(reasons.values()) / tried, 4), "fallback_reasons": dict(reasons.most_common(5)),
        "seconds_per_variant": round(float(np.median(seconds)), 3),
        "min_long_side": int(min(row["long_side"] for row in rows)), "fd_clip": fd,
        "products": tried, "segments": k, "segments_from": "k-means of the catalogue's photo embeddings",
        "variants": sum(len(row["identical"]) for row in rows),
    }


def _grid(rows: list[list[np.ndarray]], cell: tuple[int, int] = (240, 320), limit: int = 4) -> Image.Image:
    """The first `limit` products x (photo, segment 0..K-1), at card size."""
    rows = rows[:limit]
    width, height = cell
    grid = Image.new("RGB", (width * len(rows[0]), height * len(rows)), (255, 255, 255))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            tile = Image.fromarray(image)
            tile.thumbnail(cell, Image.LANCZOS)
            grid.paste(tile, (c * width + (width - tile.width) // 2, r * height + (height - tile.height) // 2))
    return grid
