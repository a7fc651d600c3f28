"""`tailorcard bench variants`: argument parsing and printing only."""
from __future__ import annotations

import json
from pathlib import Path

import click

from service.cli import bench

RUNS = Path("runs")


@bench.command("variants")
@click.option("--catalogue", "catalogue_dir", default="data/catalogue", show_default=True, type=click.Path())
@click.option("--generator", "generator_spec", default="embedded", show_default=True)
@click.option("--encoder", "encoder_spec", default="embedded", show_default=True)
@click.option("--shoppers", default=1000, show_default=True, help="SIMULATED shoppers browsing.")
@click.option("--days", default=90.0, show_default=True, help="Simulated days; the last third is steady state.")
@click.option("--visits-per-week", default=2.0, show_default=True, help="Sessions per simulated shopper and week.")
@click.option("--segments", default=8, show_default=True, help="Taste segments (k-means over taste vectors).")
@click.option("--min-demand", default=3, show_default=True,
              help="Views of a (product, segment) before it is generated.")
@click.option("--products", default=8, show_default=True, help="Most shown products to personalise and measure.")
@click.option("--tastes", default=3, show_default=True, help="Segments per product (grid columns).")
@click.option("--steps", default=None, type=int, help="Sampler steps (default: the generator's).")
@click.option("--candidates", default=4, show_default=True)
@click.option("--strength", default=0.3, show_default=True)
@click.option("--taste-weight", default=0.5, show_default=True)
@click.option("--tau", default=0.8, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--grid", "grid_path", default="docs/variants-grid.png", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Last stdout line: the results as one JSON object.")
def bench_variants_command(catalogue_dir, generator_spec, encoder_spec, shoppers, days, visits_per_week, segments,
                           min_demand, products, tastes, steps, candidates, strength, taste_weight, tau, seed,
                           grid_path, as_json):
    """Personalised variants for SIMULATED shoppers: colour toward taste, type kept, fallbacks, generations."""
    from features.catalogue import load_catalogue
    from features.embedding_store import store_path_for
    from features.encoder import load_encoder
    from imagegen import load_generator
    from imagegen.variants import VariantParams
    from imagegen.variants.bench import VariantBenchConfig, bench_variants
    from recsys import TasteSegments

    encoder = load_encoder(encoder_spec, device="cpu")
    generator = load_generator(generator_spec, device="cpu")
    params = VariantParams(strength=strength, taste_weight=taste_weight, candidates=candidates, tau=tau, seed=seed,
                           num_inference_steps=steps)
    config = VariantBenchConfig(shoppers=shoppers, days=days, visits_per_week=visits_per_week, segments=segments,
                                min_demand=min_demand, products=products, tastes=tastes, seed=seed)
    embeddings = store_path_for(RUNS / "embeddings", encoder.space_id)
    result = bench_variants(load_catalogue(catalogue_dir), encoder, generator, TasteSegments(k=segments, seed=seed),
                            params=params, config=config, embeddings_path=embeddings, grid_path=grid_path,
                            log=lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"SIMULATED shoppers: {shoppers}, {segments} segments; {result['cards_measured']} cards measured, "
               f"{result['cards_with_variant']} with a variant")
    for name in ("colour_moved_toward_taste", "type_kept", "fallback_rate", "type_kept_original_photos",
                 "generated_per_1000_cards", "cache_hit_rate", "generated_per_1000_cards_per_shopper",
                 "cache_hit_rate_per_shopper"):
        click.echo(f"{name}: {result[name]}")
    click.echo(f"grid: {result['grid']}")
