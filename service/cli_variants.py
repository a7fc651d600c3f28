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
@click.option("--min-demand", type=float, default=None,
              help="Recent views of a (product, segment) before it is generated [default: the queue's].")
@click.option("--demand-half-life", "demand_half_life_days", type=float, default=None,
              help="Days over which a view's weight in the demand halves; 0 = views never fade [default: the queue's].")
@click.option("--products", default=8, show_default=True, help="Most shown products to personalise and measure.")
@click.option("--tastes", default=3, show_default=True, help="Colour segments per product (grid columns).")
@click.option("--type-neighbours", type=int, default=None,
              help="Neighbours averaged for the product in a colour [default: features.type_taste's].")
@click.option("--steps", default=None, type=int, help="Sampler steps (default: the generator's).")
@click.option("--candidates", type=int, default=None, help="Seeds per (product, segment) [default: VariantParams'].")
@click.option("--strength", type=float, default=None, help="img2img strength [default: VariantParams'].")
@click.option("--taste-weight", type=float, default=None, help="slerp weight toward the taste [default: VariantParams'].")
@click.option("--tau", type=float, default=None, help="Fidelity gate similarity [default: VariantParams'].")
@click.option("--colour-gate/--no-colour-gate", default=None,
              help="A variant must come closer to its segment's colour [default: VariantParams'].")
@click.option("--edit-scale", type=float, default=None,
              help="Residual mode: times what the taste changed added to the photo [default: VariantParams'].")
@click.option("--mode", type=click.Choice(["residual", "redraw"]), default=None,
              help="Photo plus what the taste changed, or the redraw itself [default: VariantParams'].")
@click.option("--seed", default=0, show_default=True)
@click.option("--grid", "grid_path", default="docs/variants-grid.png", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Last stdout line: the results as one JSON object.")
def bench_variants_command(catalogue_dir, generator_spec, encoder_spec, shoppers, days, visits_per_week,
                           min_demand, demand_half_life_days, products, tastes, type_neighbours, steps, candidates, strength,
                           taste_weight, tau, colour_gate, edit_scale, mode, seed, grid_path, as_json):
    """Personalised variants for SIMULATED shoppers: colour toward taste, type kept, fallbacks, generations."""
    from features.catalogue import load_catalogue
    from features.embedding_store import store_path_for
    from features.encoder import load_encoder
    from imagegen import load_generator
    from imagegen.variants import VariantParams
    from imagegen.variants.bench import VariantBenchConfig, bench_variants

    encoder = load_encoder(encoder_spec, device="cpu")
    generator = load_generator(generator_spec, device="cpu")
    params = VariantParams(seed=seed, num_inference_steps=steps, **_given(
        strength=strength, taste_weight=taste_weight, candidates=candidates, tau=tau, colour_gate=colour_gate,
        edit_scale=edit_scale, mode=mode))
    given = _given(min_demand=min_demand, demand_half_life_days=demand_half_life_days, type_neighbours=type_neighbours)
    if given.get("demand_half_life_days") == 0:
        given["demand_half_life_days"] = None  # 0 on the command line: views never fade
    config = VariantBenchConfig(shoppers=shoppers, days=days, visits_per_week=visits_per_week,
                                products=products, tastes=tastes, seed=seed, **given)
    catalogue = load_catalogue(catalogue_dir)
    embeddings = store_path_for(RUNS / "embeddings", encoder.space_id, catalogue.root)
    result = bench_variants(catalogue, encoder, generator,
                            params=params, config=config, embeddings_path=embeddings, grid_path=grid_path,
                            log=lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"SIMULATED shoppers: {shoppers}, colour segments; {result['cards_measured']} cards measured, "
               f"{result['cards_with_variant']} with a variant")
    for name in ("colour_moved_toward_taste", "colour_moved_toward_random_shopper", "colour_moved_toward_segment",
                 "type_kept", "fallback_rate",
                 "type_kept_original_photos",
                 "generated_per_1000_cards", "cache_hit_rate", "generated_per_1000_cards_per_shopper",
                 "cache_hit_rate_per_shopper", "generated_per_1000_cards_without_decay", "cache_hit_rate_without_decay"):
        click.echo(f"{name}: {result[name]}")
    click.echo(f"grid: {result['grid']}")


def _given(**options) -> dict:
    """The options given on the command line; the rest keep the library's defaults (one place for them)."""
    return {name: value for name, value in options.items() if value is not None}
