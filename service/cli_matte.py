"""`tailorcard train-matte` and `bench matte`: argument parsing and printing only."""
from __future__ import annotations

import json

import click

from features.model_spec import parse_model_spec
from service.cli import bench, main

CATALOGUE = "../shared/data/fashion-small"
BACKGROUNDS = "../shared/data/clothing-photos"


def _data_options(function):
    for option in reversed([
        click.option("--catalogue", "catalogue_dir", default=CATALOGUE, show_default=True, type=click.Path(),
                     help="Studio photos on plain backdrops (pseudo-masks; their held-out split for the bench)."),
        click.option("--backgrounds", "backgrounds_dir", default=BACKGROUNDS, show_default=True, type=click.Path(),
                     help="clothing-photos folder: train/ backgrounds for training, validation/ for the bench."),
        click.option("--seed", default=0, show_default=True),
    ]):
        function = option(function)
    return function


@main.command("train-matte")
@_data_options
@click.option("--out", "out_dir", default="runs/matte", show_default=True, type=click.Path(file_okay=False),
              help="Training folder: train.log, checkpoints every minute, the prepared products.")
@click.option("--minutes", default=25.0, show_default=True, help="Training time in all, resumed sessions included.")
@click.option("--products", default=16000, show_default=True, help="Training photos to pseudo-mask.")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=3e-3, show_default=True)
@click.option("--max-steps", default=None, type=int, help="Stop after this many steps (smoke tests).")
@click.option("--resume", is_flag=True, help="Continue from the folder's last checkpoint.")
@click.option("--export", "export_dir", default=None, type=click.Path(file_okay=False),
              help="Where the finished model is written (default: OUT/model).")
def train_matte_command(catalogue_dir, backgrounds_dir, seed, out_dir, minutes, products, batch_size, lr, max_steps,
                        resume, export_dir):
    """Train the product matte on pseudo-masked catalogue photos and hard composites (CPU; run it with nice)."""
    from imagegen.matte.train import train_matte

    train_matte(catalogue_dir, backgrounds_dir, out_dir, minutes, products=products, batch_size=batch_size, lr=lr,
                resume=resume, max_steps=max_steps, seed=seed, export_dir=export_dir)
    click.echo(f"matte model written to {export_dir or f'{out_dir}/model'}")


@bench.command("matte")
@_data_options
@click.option("--model", "model_spec", default="embedded", show_default=True,
              help="Model spec: 'embedded' (the shipped one) or 'local-dir:PATH'.")
@click.option("--composites", default=400, show_default=True, help="Held-out composites with known masks.")
@click.option("--photos", default=400, show_default=True, help="Held-out catalogue photos.")
@click.option("--json", "as_json", is_flag=True, help="Last stdout line: the results as one JSON object.")
def bench_matte_command(catalogue_dir, backgrounds_dir, seed, model_spec, composites, photos, as_json):
    """IoU of the matte on held-out composites and catalogue photos, fallback rates, CPU speed."""
    from imagegen.matte import load_matte_model
    from imagegen.matte.bench import bench_matte

    model = load_matte_model(parse_model_spec(model_spec, "matte").folder)
    result = bench_matte(model, catalogue_dir, backgrounds_dir, composites=composites, photos=photos, seed=seed,
                         log=lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps(result))
        return
    for name, value in result.items():
        click.echo(f"{name}: {value}")
