"""The lab's recommendation commands: `tailorcard simulate`, `tailorcard bench recsys` (simulated, or a real log
with --events), `tailorcard bench new-items`, `tailorcard bench retrieval`. Added by lab.cli.register."""
from __future__ import annotations

import json
from pathlib import Path

import click

from features.catalogue import load_catalogue
from features.defaults import DEFAULT_MODEL, EMBEDDINGS_CACHE
from service.cli_options import encoder_option, json_option, sample_catalogue_option, seed_option

FASHION_SMALL_HELP = "fashion-small (the team's ../shared/data/fashion-small) gave the README's numbers"

NUMBERS = "one JSON object with the numbers"  # what --json prints last


def register(main: click.Group, bench: click.Group) -> None:
    main.add_command(simulate)
    for command in (bench_recsys, bench_new_items, bench_retrieval):
        bench.add_command(command)


@click.command()
@sample_catalogue_option("catalogue_path", "Products the simulated shoppers buy (default: the shipped sample catalogue).")
@click.option("--users", type=int, default=1000, show_default=True)
@seed_option
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


@click.command("recsys")
@click.option("--users", type=int, default=20_000, show_default=True, help="Simulated users.")
@seed_option
@click.option("--catalogue", "catalogue_path", type=click.Path(), default=None,
              help=f"Products. Simulated: required, with attribute columns; {FASHION_SMALL_HELP}. "
                   "With --events: default the log's own products.")
@encoder_option("Encoder whose image vectors (and text vectors, for queries) the recommender uses.")
@click.option("--vectors", "vectors_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Precomputed product vectors (.npz with ids, vectors) instead of encoding; disables queries.")
@click.option("--store", "store_path", type=click.Path(), default=None,
              help=f"Embedding store cache (default {EMBEDDINGS_CACHE}/<catalogue>/<space>.npz).")
@click.option("--events", "events_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A store's REAL log (CSV, Parquet, JSON lines): bench on it instead of simulating.")
@click.option("--mapping", default=None,
              help="With --events: a preset (online-retail) or a JSON file mapping the log's columns to events; "
                   "none = the log is in the events schema already.")
@click.option("--train-until", default=None, help="With --events: train on events before this date or time "
              "(a date means through that whole day). Required with --events.")
@click.option("--test-from", default=None, help="With --events: first day of the test purchases (default: --train-until).")
@click.option("--test-until", default=None, help="With --events: last day of the test purchases (default: the log's end).")
@json_option("one JSON object with MAP@12 (simulated: and the two ceilings'; real: recall, NDCG and coverage too)")
def bench_recsys(users, seed, catalogue_path, encoder_spec, vectors_path, store_path, events_path, mapping,
                 train_until, test_from, test_until, as_json):
    """Recall/NDCG/MAP@12 and coverage of tailorcard and baselines on SIMULATED behaviour, then two ceilings
    that know the simulator: the best any model can do from each shopper's events (the Bayes posterior over
    the simulator's tastes) and an oracle that reads each shopper's hidden taste.

    With --events: on a store's REAL purchases instead (no simulator): train before --train-until, score each
    shopper's top 12 against what they bought from --test-from on; baselines include buy-again."""
    if events_path:
        return _bench_real(events_path, mapping, catalogue_path, train_until, test_from, test_until, encoder_spec,
                           vectors_path, store_path, as_json)
    from lab.recsys_bench import format_table, load_vectors_file, map_summary, run_recsys_bench
    if not catalogue_path:
        raise click.UsageError("the simulated bench needs --catalogue, products with attribute columns; "
                               f"{FASHION_SMALL_HELP}")
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


def _bench_real(events_path, mapping_name, catalogue_path, train_until, test_from, test_until, encoder_spec,
                vectors_path, store_path, as_json):
    """`bench recsys --events`: map the log, split it in time, bench every model on real purchases."""
    from features.catalogue import Catalogue
    from lab.purchase_bench import (PurchaseBenchError, format_real_table, parse_moment, purchase_split,
                                    real_summary, require_test_shoppers, run_purchase_bench)
    from lab.recsys_bench import load_vectors_file
    if not train_until:
        raise PurchaseBenchError("--events needs --train-until (e.g. 2011-07-31: train through July, test after)")
    events, products, attribution = _real_log(events_path, mapping_name)
    if catalogue_path:
        products = load_catalogue(catalogue_path, check_images=False).products
    elif products is None:
        raise PurchaseBenchError("a log in the events schema names no products' titles: give --catalogue, or a "
                                 "--mapping with a title column")
    catalogue = Catalogue(products, Path(events_path).resolve().parent)
    item_ids = catalogue.products.index.to_numpy()
    known = events["item_id"].isin(item_ids)
    click.echo(f"log: {len(events):,} events, {len(item_ids):,} products"
               + (f"; {int((~known).sum()):,} events on products outside the catalogue left out" if (~known).any() else ""))
    split = purchase_split(events[known.to_numpy()], parse_moment(train_until, end_of_day=True),
                           parse_moment(test_from) if test_from else None,
                           parse_moment(test_until, end_of_day=True) if test_until else None)
    require_test_shoppers(events, split)  # before encoding: an empty test window fails at once
    if vectors_path:
        vectors, source = load_vectors_file(vectors_path, item_ids), f"vectors {vectors_path}"
    else:
        vectors, _, source = _encoder_vectors(catalogue, encoder_spec, store_path)
    click.echo(f"product vectors: {source}")
    report = run_purchase_bench(events[known.to_numpy()], item_ids, vectors, split, log=click.echo)
    for line in format_real_table(report, attribution):
        click.echo(line)
    if as_json:
        click.echo(json.dumps({**real_summary(report, attribution), "vectors": source}))


def _real_log(events_path, mapping_name):
    """(validated events, the log's products, the data's attribution line)."""
    from features.event_mapping import load_mapping, map_log_file
    from features.events import load_events
    if not mapping_name:
        log = load_events(events_path)
        click.echo(f"events: {len(log.events):,} valid, {len(log.rejects):,} rejected")
        return log.events, None, f"store log {events_path}"
    mapping = load_mapping(mapping_name)
    mapped = map_log_file(events_path, mapping)
    click.echo(f"mapped {events_path} ({mapping_name}): {len(mapped.events):,} events, {len(mapped.rejects):,} lines "
               f"kept aside ({_reasons(mapped.rejects)})")
    return mapped.events, mapped.products, mapping.attribution or f"store log {events_path}"


def _reasons(rejects) -> str:
    """The commonest reasons lines were kept aside, counted (the quoted values left out)."""
    reasons = rejects["problems"].str.replace(r" \(.*", "", regex=True).value_counts().head(3)
    return ", ".join(f"{count:,} {reason}" for reason, count in reasons.items()) or "none"


def _encoder_vectors(catalogue, spec, store_path):
    from features.embedding_store import embed_catalogue, store_path_for
    from features.encoder import load_encoder
    encoder = load_encoder(spec)
    path = Path(store_path) if store_path else store_path_for(EMBEDDINGS_CACHE, encoder.space_id, catalogue.root)
    store = embed_catalogue(catalogue, encoder, path)
    vectors = store.get(catalogue.products.index.to_numpy())
    return vectors, encoder.encode_texts, f"encoder {spec} (space {encoder.space_id}), store {path}"


@click.command("new-items")
@click.option("--users", type=int, default=3000, show_default=True, help="Simulated users.")
@seed_option
@click.option("--new-products", "new_products", type=click.IntRange(1), default=100, show_default=True,
              help="Random products held out of the fit and added after it, as if PUT through the API.")
@click.option("--catalogue", "catalogue_path", type=click.Path(), required=True,
              help=f"Products, with attribute columns; {FASHION_SMALL_HELP}.")
@click.option("--vectors", "vectors_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Precomputed product vectors (.npz with ids, vectors); default: the embedded encoder's store.")
@json_option(NUMBERS)
def bench_new_items(users, seed, new_products, catalogue_path, vectors_path, as_json):
    """Do products added after the fit reach the shoppers they suit? On SIMULATED behaviour: the share of
    matching shoppers who see a new product in their top 12, of the others who see one, and MAP@12, with the
    new-arrival rule (recsys.freshness) and without it."""
    from lab.new_items_bench import format_table, run_new_items_bench, summary
    from lab.recsys_bench import load_vectors_file
    catalogue = load_catalogue(catalogue_path, check_images=vectors_path is None)
    item_ids = catalogue.products.index.to_numpy()
    vectors, _, source = (load_vectors_file(vectors_path, item_ids), None, f"vectors {vectors_path}") if vectors_path \
        else _encoder_vectors(catalogue, DEFAULT_MODEL, None)
    click.echo(f"product vectors: {source}")
    report = run_new_items_bench(catalogue, item_ids, vectors, n_users=users, seed=seed, n_new=new_products,
                                 log=click.echo)
    for line in format_table(report):
        click.echo(line)
    if as_json:
        click.echo(json.dumps({**summary(report), "vectors": source}))


@click.command("retrieval")
@click.option("--items", type=int, default=1_000_000, show_default=True, help="Synthetic products.")
@click.option("--events", type=int, default=1_000_000, show_default=True, help="Synthetic events for the preference build.")
@click.option("--factory", default=None, help="ANN faiss factory string (default: chosen by size).")
@json_option(NUMBERS)
def bench_retrieval(items, events, factory, as_json):
    """Exact vs ANN search (recall@12, q/s, latency) and preference build speed, on SYNTHETIC data."""
    from lab.retrieval_bench import bench_index, bench_preferences, format_report
    index = bench_index(n_items=items, factory=factory, log=click.echo)
    preferences = bench_preferences(n_events=events, n_users=max(1, events // 100), log=click.echo)
    for line in format_report(index, preferences):
        click.echo(line)
    if as_json:
        click.echo(json.dumps({"synthetic": True, "index": index, "preferences": preferences}))
