"""`tailorcard bench variants`: do served variants move toward a shopper's colour without changing the product?

All behaviour here is SIMULATED (features.simulator): shoppers whose taste includes preferred colours
browse the catalogue; each card shows product p to shopper u. Variants are made per (product, colour
segment): a shopper's segment is the colour their behaviour leans to (features.colour_taste), learned
from events, never read from the simulator's ground truth. Measured:

    colour_moved_toward_taste  share of cards served a generated variant whose dominant foreground colour
                               (pixel statistics, imagegen.colour) is closer in Lab to one of the shopper's
                               preferred colours (the simulator's ground truth) than the original photo's is
    colour_moved_toward_random_shopper
                               the same, for the same variants, toward the colours of a shopper drawn at random:
                               what the metric gives when the colour segment knows nothing of the shopper
    colour_moved_toward_segment
                               share of the same cards whose variant is closer to the segment's colour (the one
                               it was drawn toward) than the original photo is: what the generator achieves;
                               with the colour gate on (VariantParams.colour_gate) 1 by construction, the gate
                               measuring against the same colour, so the bar then asks whether the learned
                               colour is the shopper's
    type_kept                  share of the same cards whose variant's zero-shot articleType is the product's
    fallback_rate              share of cards answered with the original photo (no candidate passed the gate)
    generated_per_1000_cards   generator runs per 1,000 cards at steady state (the last third of the
                               simulated days), with variants cached per (product, segment) and made
                               overnight for pairs whose recent demand (imagegen.variants.queue: cards
                               that wanted the pair, halving every `demand_half_life_days`) reached
                               `min_demand`; next to it the share of cards answered from the cache, the
                               same per shopper instead of per segment (what segments save), and without
                               the decay (what counting only recent demand saves)

A card wants no variant when its shopper has no colour lean yet or the product already is their
colour. The quality numbers come from the most shown products and, for each, the colour segments
that see it most; a pair's taste is the product as it would look in that colour (features.type_taste:
the mean of the product's nearest neighbours among its article type's products of that colour);
the colour a name stands for, for the gate and the metrics alike, is the median dominant colour of
catalogue photos of that baseColour.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageOps

from features.catalogue import Catalogue
from features.embedding_store import EmbeddingStore, embed_catalogue
from features.events import NO_ITEM
from features.images import pad_to_square
from features.colour_taste import COLOUR_EXAMPLES, ColourTaste, colour_to_show, product_kinds
from features.simulator import DAY, SimulatorConfig, simulate
from features.type_taste import TYPE_NEIGHBOURS, taste_in_colour
from imagegen.colour import delta_e, dominant_colour
from imagegen.variants.judge import ClipJudge
from imagegen.variants.params import VariantParams
from imagegen.variants.personalize import Variant, personalize, wanted_colour
from imagegen.variants.queue import DEMAND_HALF_LIFE_DAYS, MIN_DEMAND, DemandQueue

GRID_TILE = 96
STEADY_SHARE = 1 / 3  # the last third of the simulated days is steady state


@dataclass
class VariantBenchConfig:
    shoppers: int = 1000
    days: float = 90.0
    visits_per_week: float = 2.0  # sessions per shopper, so traffic grows with the simulated days
    min_demand: float = MIN_DEMAND
    demand_half_life_days: float | None = DEMAND_HALF_LIFE_DAYS
    products: int = 8  # quality sample: the most shown products ...
    tastes: int = 3  # ... each for the colour segments that see it most
    type_neighbours: int = TYPE_NEIGHBOURS  # neighbours averaged for "the product in that colour"
    seed: int = 0


@dataclass
class Shoppers:
    cards: pd.DataFrame  # day, user_id, product_id, segment (learned colour; None: wants no variant) (SIMULATED)
    colours: dict  # user_id -> preferred colour names (the simulator's ground truth, for measuring only)
    store: EmbeddingStore  # the catalogue's vectors


def bench_variants(catalogue: Catalogue, encoder, generator, *, params: VariantParams = VariantParams(),
                   config: VariantBenchConfig = VariantBenchConfig(), embeddings_path: str | Path | None = None,
                   grid_path: str | Path | None = None, log=print) -> dict:
    generator.check_encoder(encoder)
    shoppers = simulate_shoppers(catalogue, encoder, config, embeddings_path, log)
    wanting = shoppers.cards["segment"].notna()
    log(f"SIMULATED: {config.shoppers} shoppers, {len(shoppers.cards):,} cards over {config.days:g} days, "
        f"{shoppers.cards['segment'].nunique()} colour segments; {wanting.mean():.1%} of cards want a variant")
    per_segment, per_shopper, no_decay = (
        steady_state_caching(shoppers.cards, key, config.min_demand, half_life)
        for key, half_life in (("segment", config.demand_half_life_days), ("user_id", config.demand_half_life_days),
                               ("segment", None)))
    judge = ClipJudge(encoder, catalogue.products["articleType"].astype(str))
    pairs = quality_pairs(shoppers.cards, config.products, config.tastes)
    log(f"personalising {len(pairs)} (product, segment) pairs, {params.candidates} candidates each")
    types = catalogue.products["articleType"].astype(str)
    size = generator.settings.image_size
    labs = named_colour_labs(catalogue, {c for colours in shoppers.colours.values() for c in colours}
                             | {segment for _, segment in pairs}, size)
    variants = {pair: personalize(generator, judge, catalogue.load_image(pair[0]),
                                  pair_taste(catalogue, shoppers.store, *pair, config.type_neighbours), params,
                                  product_type=types.at[pair[0]], colour=labs[pair[1]])
                for pair in pairs}
    quality = served_quality(catalogue, shoppers, variants, labs, size)
    if grid_path:
        save_variant_grid(catalogue, variants, config.tastes, size, grid_path)
    return {"simulated": True, **quality,
            **per_segment, **{f"{name}_per_shopper": value for name, value in per_shopper.items()},
            **{f"{name}_without_decay": value for name, value in no_decay.items()},
            "params": params.to_dict(), "config": asdict(config), "grid": str(grid_path) if grid_path else None}


def simulate_shoppers(catalogue, encoder, config: VariantBenchConfig, embeddings_path, log) -> Shoppers:
    sessions = max(config.days / 7 * config.visits_per_week, 1.0)
    simulation = simulate(catalogue, SimulatorConfig(n_users=config.shoppers, days=config.days, sessions_mean=sessions,
                                                     seed=config.seed))
    log("embedding the catalogue (incremental)")
    store = embed_catalogue(catalogue, encoder, embeddings_path)
    products = catalogue.products
    events = simulation.events
    views = events[(events["type"] == "view") & (events["item_id"] != NO_ITEM)]
    start = pd.Timestamp(simulation.config.start).timestamp()
    cards = pd.DataFrame({"day": ((views["timestamp"] - start) // DAY).astype(int).to_numpy(),
                          "user_id": views["user_id"].to_numpy(), "product_id": views["item_id"].to_numpy()})
    # Each day's cards use the colours learned up to the day before (the service learns as events come).
    colour_taste = ColourTaste(products.index, products["baseColour"], kinds=product_kinds(products.to_dict("records")))
    cards["segment"] = learned_colours(colour_taste, events, cards, start)
    cards.loc[~wants_variant(products, cards), "segment"] = None
    colours = dict(zip(simulation.tastes["user_id"], simulation.tastes["colours"].str.split("|")))
    return Shoppers(cards, colours, store)


def wants_variant(products: pd.DataFrame, cards: pd.DataFrame) -> np.ndarray:
    """Whether each card's segment (its shopper's colour) is one to show its product in (colour_to_show)."""
    shown = products.loc[cards["product_id"], ["articleType", "baseColour"]].astype(str).to_numpy()
    offered = set(zip(products["articleType"].astype(str), products["baseColour"].astype(str)))
    return np.array([colour_to_show(colour, kind, own, offered) is not None
                     for colour, (kind, own) in zip(cards["segment"], shown)], dtype=bool)


def learned_colours(colour_taste: ColourTaste, events: pd.DataFrame, cards: pd.DataFrame, start: float) -> np.ndarray:
    """Each card's shopper's colour as learned from all events before the card's day (None: no lean yet)."""
    colours = np.full(len(cards), None, dtype=object)
    event_day = ((events["timestamp"] - start) // DAY).to_numpy()
    for day in np.unique(cards["day"]):
        before = event_day < day
        if before.any():
            on_day = (cards["day"] == day).to_numpy()
            colours[on_day] = colour_taste.rebuild(events[before]).colours_of(cards["user_id"].to_numpy()[on_day])
    return colours


def pair_taste(catalogue: Catalogue, store: EmbeddingStore, product_id: int, colour: str, neighbours: int) -> np.ndarray:
    """The product as it would look in the segment's colour (features.type_taste.taste_in_colour)."""
    products = catalogue.products.loc[store.ids]
    taste = taste_in_colour(store.vectors[store.ids == product_id][0], catalogue.products.at[product_id, "articleType"],
                            colour, products["articleType"].to_numpy(), products["baseColour"].to_numpy(),
                            store.vectors, neighbours)
    if taste is None:
        raise ValueError(f"no {colour} product of product {product_id}'s type; such a pair wants no variant")
    return taste


def colour_photos(catalogue: Catalogue, colour: str) -> list:
    """Photos of (up to COLOUR_EXAMPLES) products in `colour`: what the colour looks like."""
    products = catalogue.products
    return [catalogue.load_image(pid) for pid in products.index[products["baseColour"] == colour][:COLOUR_EXAMPLES]]


def steady_state_caching(cards: pd.DataFrame, key: str, min_demand: float, half_life_days: float | None = None) -> dict:
    """Generator runs per 1,000 cards (all cards) and cache hits over the last third of days, caching per
    (product, cards[key]); only cards with a segment (see wants_variant) ask for a variant."""
    queue, decided, made, hits = DemandQueue(min_demand, half_life_days), set(), {}, {}
    for day, shown in cards.groupby("day", sort=True):
        wanted = shown[shown["segment"].notna()]  # cards that want no variant ask for nothing
        cached = [pair in decided for pair in zip(wanted["product_id"], wanted[key])]
        for pair, hit in zip(zip(wanted["product_id"], wanted[key]), cached):
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


def quality_pairs(cards: pd.DataFrame, products: int, tastes: int) -> list[tuple[int, str]]:
    """The products most shown as cards wanting a variant, each with the `tastes` segments that see it most."""
    wanted = cards[cards["segment"].notna()]
    pairs = []
    for product_id in wanted["product_id"].value_counts().index[:products]:
        seen_by = wanted.loc[wanted["product_id"] == product_id, "segment"].value_counts().index[:tastes]
        pairs += [(int(product_id), str(segment)) for segment in seen_by]
    return pairs


def served_quality(catalogue, shoppers: Shoppers, variants: dict, labs: dict, size: int) -> dict:
    """Card-level shares over the cards of the personalised pairs; `labs`: each colour name's Lab
    (named_colour_labs)."""
    served = shoppers.cards[[pair in variants for pair in zip(shoppers.cards["product_id"], shoppers.cards["segment"])]]
    everyone = sorted(shoppers.colours)
    strangers = np.random.default_rng(0).choice(len(everyone), len(served))  # the control: anybody's colours
    originals = {pid: dominant_colour(np.asarray(pad_to_square(catalogue.load_image(pid), size)))
                 for pid in served["product_id"].unique()}
    moved, moved_for_anybody, moved_to_segment, kept, generated, original_right = [], [], [], [], [], []
    for user, product_id, segment, stranger in zip(served["user_id"], served["product_id"], served["segment"],
                                                   strangers):
        variant = variants[(product_id, segment)]
        product_type = catalogue.products.at[product_id, "articleType"]
        generated.append(variant.generated)
        original_right.append(variant.original_type == product_type)
        if variant.generated:
            now = dominant_colour(variant.image)
            moved.append(_closer(now, originals[product_id], [labs[c] for c in shoppers.colours[user]]))
            moved_for_anybody.append(_closer(now, originals[product_id],
                                             [labs[c] for c in shoppers.colours[everyone[stranger]]]))
            moved_to_segment.append(_closer(now, originals[product_id], [labs[segment]]))
            kept.append(variant.chosen.article_type == product_type)
    return {"colour_moved_toward_taste": _share(moved), "colour_moved_toward_random_shopper": _share(moved_for_anybody),
            "colour_moved_toward_segment": _share(moved_to_segment),
            "type_kept": _share(kept),
            "fallback_rate": round(1 - float(np.mean(generated)), 4) if generated else None,
            "type_kept_original_photos": _share(original_right),
            "cards_measured": len(served), "cards_with_variant": len(moved),
            "pairs_personalised": len(variants), "pairs_generated": sum(v.generated for v in variants.values())}


def _closer(colour, original, preferred) -> bool:
    """Whether `colour` is nearer (Lab) to the nearest preferred colour than the original photo's is."""
    preferred = np.stack(preferred)
    return bool(delta_e(colour, preferred).min() < delta_e(original, preferred).min())


def named_colour_labs(catalogue: Catalogue, names, size: int) -> dict:
    """Lab of each colour name: median dominant colour of (up to COLOUR_EXAMPLES) catalogue photos of that
    baseColour."""
    return {name: wanted_colour(colour_photos(catalogue, name), size) for name in sorted(names)}


def save_variant_grid(catalogue, variants: dict[tuple, Variant], tastes: int, size: int, path) -> None:
    """Rows: products. Columns: the original | its variant for each colour segment, named at the bottom;
    originals served as fallback framed grey."""
    products = list(dict.fromkeys(product_id for product_id, _ in variants))
    grid = Image.new("RGB", (GRID_TILE * (tastes + 1), GRID_TILE * len(products)), "white")
    for row, product_id in enumerate(products):
        tiles = [(np.asarray(pad_to_square(catalogue.load_image(product_id), size)), False, "")]
        tiles += [(v.image, not v.generated, str(segment)) for (p, segment), v in variants.items() if p == product_id]
        for column, (image, fallback, label) in enumerate(tiles):
            tile = Image.fromarray(image).resize((GRID_TILE, GRID_TILE), Image.Resampling.NEAREST)
            if fallback:
                tile = ImageOps.expand(tile.crop((3, 3, GRID_TILE - 3, GRID_TILE - 3)), border=3, fill="grey")
            ImageDraw.Draw(tile).text((5, GRID_TILE - 14), label, fill="black")
            grid.paste(tile, (column * GRID_TILE, row * GRID_TILE))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)


def _share(flags: list) -> float | None:
    return round(float(np.mean(flags)), 4) if flags else None
