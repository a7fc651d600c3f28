"""CLI: `tailorcard simulate`, `tailorcard bench recsys`, `tailorcard bench retrieval`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from features.catalogue import load_catalogue
from features.encoder.spec import data_dir
from service.cli import bench, main

DEFAULT_CATALOGUE = data_dir().parent.parent / "shared" / "data" / "fashion-small"
RUNS = Path("runs")


@main.command()
@click.option("--catalogue", "catalogue_path", type=click.Path(), default=str(DEFAULT_CATALOGUE), show_default=True)
@click.option("--users", type=int, default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--days", type=float, default=90.0, show_default=True)
@click.option("--out", type=click.Path(), required=True,
              help="Folder for events.parquet, tastes.parquet and popularity.parquet.")
def simulate(catalogue_path, users, seed, days, out):
    """Write a SIMULATED event log and each simulated user's ground-truth taste."""
    from features.simulator import SimulatorConfig, simulate as run_simulation
    catalogue = load_catalogue(catalogue_path, check_images=False)
    simulation = run_simulation(catalogue, SimulatorConfig(n_users=users, seed=seed, days=days))
    paths = simulation.save(out)
    click.echo(f"SIMULATED behaviour (not real shoppers): {len(simulation.events):,} events of {users:,} users, "
               f"seed {seed}, over {len(catalogue):,} products")
    for what, path in paths.items():
        click.echo(f"  {what}: {path}")


@bench.command("recsys")
@click.option("--users", type=int, default=20_000, show_default=True, help="Simulated users.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--catalogue", "catalogue_path", type=click.Path(), default=str(DEFAULT_CATALOGUE), show_default=True)
@click.option("--encoder", "encoder_spec", default="embedded", show_default=True,
              help="Encoder whose image vectors (and text vectors, for queries) the recommender uses.")
@click.option("--vectors", "vectors_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Precomputed product vectors (.npz with ids, vectors) instead of encoding; disables queries.")
@click.option("--store", "store_path", type=click.Path(), default=None,
              help="Embedding store cache (default runs/embeddings/<catalogue>/<space>.npz).")
@click.option("--json", "as_json", is_flag=True,
              help="Last stdout line: one JSON object with MAP@12 (and the two ceilings').")
def bench_recsys(users, seed, catalogue_path, encoder_spec, vectors_path, store_path, as_json):
    """Recall/NDCG/MAP@12 and coverage of tailorcard and baselines on SIMULATED behaviour, then two ceilings
    that know the simulator: the best any model can do from each shopper's events (the Bayes posterior over
    the simulator's tastes) and an oracle that reads each shopper's hidden taste."""
    from recsys.recsys_bench import format_table, load_vectors_file, map_summary, run_recsys_bench
    catalogue = load_catalogue(catalogue_path, check_images=vectors_path is None)
    item_ids = catalogue.products.index.to_numpy()
    if vectors_path:
        vectors, encode_texts, source = load_vectors_file(vectors_path, item_ids), None, f"vectors {vectors_path}"
    else:
        vectors, encode_texts, source = _encoder_vectors(catalogue, encoder_spec, store_path)
    click.echo(f"product vectors: {source}")
    report = run_recsys_bench(catalogue, item_ids, vectors, encode_texts, n_users=users, seed=seed, log=click.echo)
    report["vectors"] = source
    for line in format_table(report):
        click.echo(line)
    if as_json:
        click.echo(json.dumps({**map_summary(report), "vectors": source}))


def _encoder_vectors(catalogue, spec, store_path):
    from features.embedding_store import embed_catalogue, store_path_for
    from features.encoder import load_encoder
    encoder = load_encoder(spec)
    path = Path(store_path) if store_path else store_path_for(RUNS / "embeddings", encoder.space_id, catalogue.root)
    store = embed_catalogue(catalogue, encoder, path)
    vectors = store.get(catalogue.products.index.to_numpy())
    return vectors, encoder.encode_texts, f"encoder {spec} (space {encoder.space_id}), store {path}"


@bench.command("retrieval")
@click.option("--items", type=int, default=1_000_000, show_default=True, help="Synthetic products.")
@click.option("--events", type=int, default=1_000_000, show_default=True, help="Synthetic events for the preference build.")
@click.option("--factory", default=None, help="ANN faiss factory string (default: chosen by size).")
@click.option("--json", "as_json", is_flag=True, help="Last stdout line: one JSON object with the numbers.")
def bench_retrieval(items, events, factory, as_json):
    """Exact vs ANN search (recall@12, q/s, latency) and preference build speed, on SYNTHETIC data."""
    from recsys.retrieval_bench import bench_index, bench_preferences, format_report
    index = bench_index(n_items=items, factory=factory, log=click.echo)
    preferences = bench_preferences(n_events=events, n_users=max(1, events // 100), log=click.echo)
    for line in format_report(index, preferences):
        click.echo(line)
    if as_json:
        click.echo(json.dumps({"synthetic": True, "index": index, "preferences": preferences}))
