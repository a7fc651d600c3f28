"""`tailorcard catalogue ...`: check a store's catalogue before using it, make one from photo folders."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from service.cli import main
from service.cli_options import SERVED_INSTANCE_HELP, encoder_option, instance_option, served_engine


@main.group("catalogue")
def catalogue_group():
    """A store's catalogue: check one, make one from folders of photos or from an order log, sync it."""


@catalogue_group.command("check")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--no-images", is_flag=True, help="Skip the photos (no file opened, no URL fetched).")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for a photo URL's server.")
def check_command(path, no_images, timeout):
    """Validate a catalogue file or folder; writes nothing. Prints a summary, then every problem
    (exit status 2 when there is any)."""
    from features.catalogue import IMAGE_CACHE, check_catalogue
    from features.catalogue_table import find_catalogue_file
    from features.image_sources import ImageFetcher
    file = find_catalogue_file(path)
    images = ImageFetcher(file.parent / IMAGE_CACHE, write_cache=False, timeout_s=timeout)  # reads a cache, never fills it
    check = check_catalogue(file, check_images=not no_images, images=images)
    for line in _summary(check, no_images):
        click.echo(line)
    if check.problems:
        click.echo(f"error: {check.file}: {len(check.problems)} problem(s):", err=True)
        for problem in check.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    click.echo("ok: no problems")


def _summary(check, no_images: bool) -> list[str]:
    total, photos, urls = len(check.frame), check.photos, check.photo_urls
    photo_note = " (not opened: --no-images)" if no_images else ""
    text = ", ".join(c for c in ("title", "description") if c in check.frame.columns)
    return [f"catalogue   {check.file}",
            f"format      {check.format}",
            f"products    {total}: {photos} with a photo ({photos - urls} file(s), {urls} URL(s)){photo_note}, "
            f"{total - photos} text-only",
            f"text        {text}",
            f"attributes  {', '.join(check.attribute_columns) or '(none)'}"]


@catalogue_group.command("from-folders")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="The catalogue .csv to write, or a folder to write catalogue.csv in.")
def from_folders_command(folder, out):
    """Make a catalogue from photos sorted into class folders: one product per photo, ids such as
    tshirt-0001, the folder's name as attribute `category`."""
    from features.catalogue_folders import write_catalogue_from_folders
    file, frame = write_catalogue_from_folders(folder, out)
    counts = frame["category"].value_counts().sort_index()
    click.echo(f"wrote {file}: {len(frame)} products in {len(counts)} categories "
               f"({', '.join(f'{name} {n}' for name, n in counts.items())})")
    click.echo(f"check it with: tailorcard catalogue check {file}")


@catalogue_group.command("from-log")
@click.argument("log_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", required=True,
              help="A preset (online-retail) or a JSON file naming the log's columns, as `events import` takes; its "
                   "title column names the products.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="The catalogue .csv to write, or a folder to write catalogue.csv in.")
def from_log_command(log_path, mapping, out):
    """Make a text-only catalogue from an order log (a store with no product file): one product per item code,
    titled by its most frequent description; codes that are not products (the mapping's rules) are left out."""
    from features.catalogue_folders import new_catalogue_file
    from features.event_mapping import load_mapping, log_products_file
    chosen = load_mapping(mapping)
    file = new_catalogue_file(out)
    products = log_products_file(log_path, chosen)
    file.parent.mkdir(parents=True, exist_ok=True)
    products.to_csv(file, index=False)
    untitled = int((products["title"] == products["product_id"]).sum())
    click.echo(f"wrote {file}: {len(products)} text-only products from {log_path}"
               + (f" ({untitled} without a description: titled by their code)" if untitled else ""))
    click.echo(f"check it with: tailorcard catalogue check {file}; then serve it (tailorcard serve --catalogue "
               f"{file.parent}) and import the log (tailorcard events import {log_path} --mapping {mapping})")
    if chosen.attribution:
        click.echo(f"data: {chosen.attribution}")


@catalogue_group.command("sync")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Report what would be added, changed and deleted; write nothing.")
@instance_option(help=SERVED_INSTANCE_HELP)
@encoder_option()
def sync_command(path, dry_run, instance, encoder_spec):
    """Bring a running store's products in step with its catalogue: add new ones, replace changed ones (re-embedded
    only when the photo or text changed), delete those no longer in it. Idempotent; safe while serving."""
    from features.catalogue import load_catalogue
    from features.encoder import load_encoder
    from service.cli_service import sync_database
    catalogue = load_catalogue(path)
    engine = served_engine(instance, writes=not dry_run)
    sync_database(engine, catalogue, None if dry_run else load_encoder(encoder_spec), dry_run=dry_run)
    engine.dispose()
