"""`tailorcard bench variants`: do served variants move toward a shopper's colour without changing the product?

All behaviour here is SIMULATED (features.simulator): shoppers whose taste includes preferred colours
browse the catalogue; each card shows product p to shopper u, who belongs to taste segment s. Measured:

    colour_moved_toward_taste  share of cards served a generated variant whose dominant foreground colour
                               (pixel statistics, imagegen.colour) is closer in Lab to one of the shopper's
                               preferred colours than the original photo's is
    type_kept                  share of the same cards whose variant's zero-shot articleType is the product's
    fallback_rate              share of cards answered with the original photo (no candidate passed the gate)
    generated_per_1000_cards   generator runs per 1,000 cards at steady state (the last third of the
                               simulated days), with variants cached per (product, segment) and made
                               overnight for pairs whose recent demand (imagegen.variants.queue: cards
                               that wanted the pair, halving every `demand_half_life_days`) reached
                               `min_demand`; next to it the share of cards answered from the cache, the
                               same per shopper instead of per segment (what segments save), and without
                               the decay (what counting only recent demand saves)

The quality numbers come from the most shown products and, for each, the segments that see it most,
each drawn toward its segment's taste within the product's article type (features.type_taste);
the colour a name stands for is the median dominant colour of catalogue photos of that baseColour.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from features.catalogue import Catalogue
from features.embedding_store import EmbeddingStore, embed_catalogue
from features.events import NO_ITEM
from features.images import pad_to_square
from features.preferences import PreferenceStore
from features.simulator import DAY, SimulatorConfig, simulate
from features.type_taste import TYPE_NEIGHBOURS, taste_within_type
from imagegen.colour import delta_e, dominant_colour
from imagegen.variants.judge import ClipJudge
from imagegen.variants.params import VariantParams
from imagegen.variants.personalize import Variant, personalize
from imagegen.variants.queue import DEMAND_HALF_LIFE_DAYS, MIN_DEMAND, DemandQueue

GRID_TILE = 96
STEADY_SHARE = 1 / 3  # the last third of the simulated days is steady state
COLOUR_REFERENCE_PHOTOS = 30


@dataclass
class VariantBenchConfig:
    shoppers: int = 1000
    days: float = 90.0
    visits_per_week: float = 2.0  # sessions per shopper, so traffic grows with the simulated days
    segments: int = 8
    min_demand: float = MIN_DEMAND
    demand_half_life_days: float | None = DEMAND_HALF_LIFE_DAYS
    products: int = 8  # quality sample: the most shown products ...
    tastes: int = 3  # ... each for the segments that see it most
    type_neighbours: int | None = TYPE_NEIGHBOURS  # a segment's taste within the product's type; None: whole
    seed: int = 0


@dataclass
class Shoppers:
    cards: pd.DataFrame  # day, user_id, product_id, segment: one row per product shown (SIMULATED)
    colours: dict  # user_id -> preferred colour names
    tastes: np.ndarray  # segment -> unit taste vector (centroid)
    store: EmbeddingStore  # the catalogue's vectors


def bench_variants(catalogue: Catalogue, encoder, generator, segmenter, *, params: VariantParams = VariantParams(),
                   config: VariantBenchConfig = VariantBenchConfig(), embeddings_path: str | Path | None = None,
                   grid_path: str | Path | None = None, log=print) -> dict:
    """`segmenter`: unfitted taste segments: fit(vectors), segments_of(vectors), centroids (recsys.TasteSegments)."""
    generator.check_encoder(encoder)
    shoppers = simulate_shoppers(catalogue, encoder, segmenter, config, embeddings_path, log)
    log(f"SIMULATED: {config.shoppers} shoppers, {len(shoppers.cards):,} cards over {config.days:g} days, "
        f"{config.segments} taste segments")
    per_segment, per_shopper, no_decay = (
        steady_state_caching(shoppers.cards, key, config.min_demand, half_life)
        for key, half_life in (("segment", config.demand_half_life_days), ("user_id", config.demand_half_life_days),
                               ("segment", None)))
    judge = ClipJudge(encoder, catalogue.products["articleType"].astype(str))
    pairs = quality_pairs(shoppers.cards, config.products, config.tastes)
    log(f"personalising {len(pairs)} (product, segment) pairs, {params.candidates} candidates each")
    types = catalogue.products["articleType"].astype(str)
    variants = {pair: personalize(generator, judge, catalogue.load_image(pair[0]),
                                  pair_taste(catalogue, shoppers, *pair, config.type_neighbours), params,
                                  product_type=types.at[pair[0]])
                for pair in pairs}
    quality = served_quality(catalogue, shoppers, variants, generator.settings.image_size)
    if grid_path:
        save_variant_grid(catalogue, variants, config.tastes, generator.settings.image_size, grid_path)
    return {"simulated": True, **quality,
            **per_segment, **{f"{name}_per_shopper": value for name, value in per_shopper.items()},
            **{f"{name}_without_decay": value for name, value in no_decay.items()},
            "params": params.to_dict(), "config": asdict(config), "grid": str(grid_path) if grid_path else None}


def simulate_shoppers(catalogue, encoder, segmenter, config: VariantBenchConfig, embeddings_path, log) -> Shoppers:
    sessions = max(config.days / 7 * config.visits_per_week, 1.0)
    simulation = simulate(catalogue, SimulatorConfig(n_users=config.shoppers, days=config.days, sessions_mean=sessions,
                                                     seed=config.seed))
    log("embedding the catalogue (incremental)")
    store = embed_catalogue(catalogue, encoder, embeddings_path)
    preferences = PreferenceStore(store.ids, store.vectors, lambda texts: encoder.encode_texts(texts, progress=False))
    preferences.rebuild(simulation.events)
    user_ids = np.asarray(preferences.user_ids)
    segment = segmenter.fit(preferences.vectors(user_ids)).segments_of(preferences.vectors(user_ids))
    events = simulation.events
    views = events[(events["type"] == "view") & (events["item_id"] != NO_ITEM)]
    start = pd.Timestamp(simulation.config.start).timestamp()
    cards = pd.DataFrame({"day": ((views["timestamp"] - start) // DAY).astype(int).to_numpy(),
                          "user_id": views["user_id"].to_numpy(), "product_id": views["item_id"].to_numpy()})
    cards["segment"] = pd.Series(segment, index=user_ids).loc[cards["user_id"]].to_numpy()
    colours = dict(zip(simulation.tastes["user_id"], simulation.tastes["colours"].str.split("|")))
    return Shoppers(cards, colours, np.asarray(segmenter.centroids), store)


def pair_taste(catalogue: Catalogue, shoppers: Shoppers, product_id: int, segment: int, neighbours) -> np.ndarray:
    """The segment's taste, narrowed to the product's article type (features.type_taste) unless neighbours is None."""
    if neighbours is None:
        return shoppers.tastes[segment]
    types = catalogue.products["articleType"]
    same_type = types.loc[shoppers.store.ids].to_numpy() == types.at[product_id]
    return taste_within_type(shoppers.tastes[segment], shoppers.store.vectors[same_type], neighbours)


def steady_state_caching(cards: pd.DataFrame, key: str, min_demand: float, half_life_days: float | None = None) -> dict:
    """Generator runs per 1,000 cards and cache hits over the last third of days, caching per (product, cards[key])."""
    queue, decided, made, hits = DemandQueue(min_demand, half_life_days), set(), {}, {}
    for day, shown in cards.groupby("day", sort=True):
        cached = [pair in decided for pair in zip(shown["product_id"], shown[key])]
        for pair, hit in zip(zip(shown["product_id"], shown[key]), cached):
            if not hit:
                queue.request(*pair, at=day * DAY)
        made[day] = queue.take(len(queue), at=day * DAY)  # overnight: every pair in demand enough
        decided.update(made[day])
        hits[day] = sum(cached)
    first, last = cards["day"].min(), cards["day"].max()
    steady = [day for day in made if day >= first + (1 - STEADY_SHARE) * (last - first)]
    shown = int(cards["day"].isin(steady).sum())
    return {"generated_per_1000_cards": round(1000 * sum(len(made[d]) for d in steady) / max(shown, 1), 3),
            "cache_hit_rate": round(sum(hits[d] for d in steady) / max(shown, 1), 4)}


def quality_pairs(cards: pd.DataFrame, products: int, tastes: int) -> list[tuple[int, int]]:
    """The most shown products, each with the segments that see it most (topped up with the largest)."""
    by_segment = cards["segment"].value_counts().index.tolist()
    pairs = []
    for product_id in cards["product_id"].value_counts().index[:products]:
        seen_by = cards.loc[cards["product_id"] == product_id, "segment"].value_counts().index.tolist()
        chosen = list(dict.fromkeys(seen_by + by_segment))[:tastes]
        pairs += [(int(product_id), int(segment)) for segment in chosen]
    return pairs


def served_quality(catalogue, shoppers: Shoppers, variants: dict, size: int) -> dict:
    """Card-level shares over the cards of the personalised pairs."""
    served = shoppers.cards[[pair in variants for pair in zip(shoppers.cards["product_id"], shoppers.cards["segment"])]]
    labs = named_colour_labs(catalogue, {c for user in served["user_id"] for c in shoppers.colours[user]}, size)
    originals = {pid: dominant_colour(np.asarray(pad_to_square(catalogue.load_image(pid), size)))
                 for pid in served["product_id"].unique()}
    moved, kept, generated, original_right = [], [], [], []
    for user, product_id, segment in zip(served["user_id"], served["product_id"], served["segment"]):
        variant = variants[(product_id, segment)]
        product_type = catalogue.products.at[product_id, "articleType"]
        generated.append(variant.generated)
        original_right.append(variant.original_type == product_type)
        if variant.generated:
            preferred = np.stack([labs[c] for c in shoppers.colours[user]])
            now, before = (delta_e(colour, preferred).min() for colour in (dominant_colour(variant.image),
                                                                             originals[product_id]))
            moved.append(now < before)
            kept.append(variant.chosen.article_type == product_type)
    return {"colour_moved_toward_taste": _share(moved), "type_kept": _share(kept),
            "fallback_rate": round(1 - float(np.mean(generated)), 4) if generated else None,
            "type_kept_original_photos": _share(original_right),
            "cards_measured": len(served), "cards_with_variant": len(moved),
            "pairs_personalised": len(variants), "pairs_generated": sum(v.generated for v in variants.values())}


def named_colour_labs(catalogue: Catalogue, names, size: int) -> dict:
    """Lab of each colour name: median dominant colour of (up to 30) catalogue photos of that baseColour."""
    products = catalogue.products
    labs = {}
    for name in sorted(names):
        ids = products.index[products["baseColour"] == name][:COLOUR_REFERENCE_PHOTOS]
        photos = [np.asarray(pad_to_square(catalogue.load_image(pid), size)) for pid in ids]
        labs[name] = np.median([dominant_colour(photo) for photo in photos], axis=0)
    return labs


def save_variant_grid(catalogue, variants: dict[tuple, Variant], tastes: int, size: int, path) -> None:
    """Rows: products. Columns: the original | its variant for each taste; originals served as fallback framed grey."""
    products = list(dict.fromkeys(product_id for product_id, _ in variants))
    grid = Image.new("RGB", (GRID_TILE * (tastes + 1), GRID_TILE * len(products)), "white")
    for row, product_id in enumerate(products):
        tiles = [(np.asarray(pad_to_square(catalogue.load_image(product_id), size)), False)]
        tiles += [(v.image, not v.generated) for (p, _), v in variants.items() if p == product_id]
        for column, (image, fallback) in enumerate(tiles):
            tile = Image.fromarray(image).resize((GRID_TILE, GRID_TILE), Image.Resampling.NEAREST)
            if fallback:
                tile = ImageOps.expand(tile.crop((3, 3, GRID_TILE - 3, GRID_TILE - 3)), border=3, fill="grey")
            grid.paste(tile, (column * GRID_TILE, row * GRID_TILE))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)


def _share(flags: list) -> float | None:
    return round(float(np.mean(flags)), 4) if flags else None
