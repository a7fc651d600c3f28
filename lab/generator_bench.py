"""`tailorcard bench generator`: does the image follow the embedding it was drawn from?

On held-out products (never trained on), each product's photo is embedded with the encoder and
the generator draws an image from that embedding. Measured:

    fd_clip          Frechet distance, in the encoder's space, of real photos vs images from our
                     generator (conditional; unconditional) and from the DCGAN baseline
    colour_delta_e   median delta E between the dominant colour of the generated image and of
                     its source photo, and of a random other product's photo (the condition matters
                     if the first is much smaller)
    type_agreement   zero-shot articleType of the generated image equals the source's
    images_per_s     generation speed on this machine's CPU with the default sampler
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from features.catalogue import Catalogue
from features.image_pack import is_heldout
from features.images import pad_to_square
from imagegen.colour import delta_e, dominant_colour
from imagegen.errors import BenchError
from imagegen.frechet import frechet_distance
from lab.judge import ClipJudge
from lab.dcgan import sample_dcgan

MIN_PRODUCTS = 8  # fewer make the Frechet covariances meaningless
GRID_ROWS = 8


def heldout_ids(catalogue: Catalogue, limit: int | None, seed: int) -> list[int]:
    ids = [pid for pid in catalogue.ids if is_heldout(pid)]
    if limit is not None and limit < len(ids):
        ids = sorted(np.random.default_rng(seed).choice(ids, size=limit, replace=False).tolist())
    if len(ids) < MIN_PRODUCTS:
        raise BenchError(f"the catalogue has {len(ids)} held-out products to benchmark on "
                         f"(limit={limit}); at least {MIN_PRODUCTS} are needed")
    return ids


def bench_generator(catalogue: Catalogue, encoder, generator, dcgan, *, limit: int | None = 128, seed: int = 0,
                    grid_path: str | Path | None = None, log=print) -> dict:
    generator.check_encoder(encoder)
    size = generator.settings.image_size
    ids = heldout_ids(catalogue, limit, seed)
    log(f"benchmarking on {len(ids)} held-out products at {size}x{size}")
    real = np.stack([np.asarray(pad_to_square(catalogue.load_image(pid), size)) for pid in ids])
    real_embeds = embed(encoder, real)

    log("generating from each product's embedding (default sampler)")
    started = time.perf_counter()
    conditional = generator.generate(real_embeds, seed=seed)
    images_per_s = len(ids) / (time.perf_counter() - started)
    log("generating unconditionally and with the DCGAN")
    unconditional = generator.generate(np.zeros_like(real_embeds), guidance_scale=1.0, seed=seed + 1)
    baseline = sample_dcgan(dcgan, len(ids), seed=seed)
    generated = {"conditional": conditional, "unconditional": unconditional, "dcgan": baseline}
    generated_embeds = {name: embed(encoder, images) for name, images in generated.items()}

    judge = ClipJudge(encoder, catalogue.products["articleType"])  # zero-shot over the catalogue's types
    article_types = catalogue.products.loc[ids, "articleType"].astype(str).to_numpy()
    result = {
        "fd_clip": {name: round(frechet_distance(real_embeds, e), 4) for name, e in generated_embeds.items()},
        "colour_delta_e": colour_distances(conditional, real, seed),
        "type_agreement": type_agreement(judge, generated_embeds["conditional"], article_types),
        "type_agreement_real_photos": type_agreement(judge, real_embeds, article_types),
        "images_per_s": round(images_per_s, 3),
        "products": len(ids),
        "image_size": size,
        "sampler": f"{generator.settings.sampler}, {generator.settings.num_inference_steps} steps, "
                   f"guidance {generator.settings.guidance_scale}",
        "device": str(generator.device),
        "torch_threads": torch.get_num_threads(),
    }
    if grid_path:
        save_grid([real, conditional, baseline], grid_path)
        result["grid"] = str(grid_path)
    return result


def embed(encoder, images: np.ndarray) -> np.ndarray:
    return encoder.encode_images([Image.fromarray(image) for image in images], progress=False)


def colour_distances(generated: np.ndarray, real: np.ndarray, seed: int) -> dict:
    """Median delta E of each generated image's dominant colour to its source and to a random other."""
    generated_lab = np.stack([dominant_colour(image) for image in generated])
    real_lab = np.stack([dominant_colour(image) for image in real])
    other = np.roll(np.arange(len(real)), np.random.default_rng(seed).integers(1, len(real)))  # never itself
    return {"source": round(float(np.median(delta_e(generated_lab, real_lab))), 3),
            "random_other": round(float(np.median(delta_e(generated_lab, real_lab[other]))), 3)}


def type_agreement(judge: ClipJudge, image_embeds: np.ndarray, true_types: np.ndarray) -> float:
    """Share of images whose zero-shot articleType is the true one."""
    return round(float((judge.article_types(image_embeds) == true_types).mean()), 4)


def save_grid(columns: list[np.ndarray], path: str | Path, rows: int = GRID_ROWS, tile: int = 128) -> None:
    """One row per product, one column per source (real | ours | DCGAN); every tile shown at `tile` px."""
    rows = min(rows, len(columns[0]))
    grid = Image.new("RGB", (tile * len(columns), tile * rows), "white")
    for r in range(rows):
        for c, column in enumerate(columns):
            tile_image = Image.fromarray(column[r]).resize((tile, tile), Image.Resampling.NEAREST)
            grid.paste(tile_image, (c * tile, r * tile))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
