"""`tailorcard events import FILE`: a store's own history into its database (idempotent; rejects kept aside)."""
from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np
import sqlalchemy as sa

from service.cli import main
from service.cli_options import SERVED_INSTANCE_HELP, instance_option, served_engine

IMPORT_BATCH = 50_000  # events per transaction: a long import never holds the database for long


@main.group("events")
def events_group():
    """A store's behaviour history."""


@events_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", default=None,
              help="A preset (online-retail) or a JSON file naming the log's columns (features.event_mapping); "
                   "without one the file is in tailorcard's own events format.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the lines kept aside go, each with its reasons [default: FILE.rejects.csv].")
@instance_option(help=SERVED_INSTANCE_HELP)
@click.option("--dry-run", is_flag=True, help="Read, map and check; write nothing but the rejects file.")
def import_command(path, mapping, rejects_path, instance, dry_run):
    """Import a history of events (CSV, Parquet or JSON lines). Re-running it adds nothing: event ids come from
    the lines. Events naming a product the catalogue does not have are kept aside: sync the catalogue first."""
    started = time.perf_counter()
    engine = served_engine(instance, writes=not dry_run)
    log, attribution = _read(path, mapping, _known_products(engine))
    rejects_path = rejects_path or path.with_name(path.name + ".rejects.csv")
    log.write_rejects(rejects_path)
    events = log.events
    new = 0 if dry_run else _store(engine, events)
    engine.dispose()
    click.echo(f"{path}: {len(events) + len(log.rejects):,} lines read; {len(events):,} events "
               f"({'would be imported' if dry_run else f'{new:,} new, {len(events) - new:,} already there'}), "
               f"{len(log.rejects):,} kept aside in {rejects_path}; {time.perf_counter() - started:.1f} s")
    if attribution:
        click.echo(f"data: {attribution}")


def _read(path: Path, mapping: str | None, known: np.ndarray):
    """(the events log, its lines naming no product in `known` among the rejects with their own row and columns;
    how the data must be credited when the mapping's preset says so)."""
    from features.event_mapping import load_mapping, map_log_file
    from features.events import load_events
    if mapping is None:
        return load_events(path, known_items=known), None
    chosen = load_mapping(mapping)
    return map_log_file(path, chosen, known_items=known).log, chosen.attribution


def _known_products(engine) -> np.ndarray:
    """The product keys the database has (deleted ones too: history may name them)."""
    from service.db import products
    with engine.connect() as connection:
        return np.fromiter(connection.execute(sa.select(products.c.product_id)).scalars(), dtype=np.int64)


def _store(engine, events: pd.DataFrame) -> int:
    """Insert in batches; then every worker's popularity prior counts the history (service.live)."""
    from service import repository
    from service.live import POPULARITY_SEQ
    new = 0
    for start in range(0, len(events), IMPORT_BATCH):
        with engine.begin() as connection:
            new += repository.insert_events(connection, events.iloc[start:start + IMPORT_BATCH])
    if new:
        with engine.begin() as connection:
            repository.save_array(connection, POPULARITY_SEQ, np.array(repository.last_event_seq(connection)))
    return new
