"""`tailorcard train-matte`: argument parsing and printing only (`bench matte` is the lab's)."""
from __future__ import annotations

import click

from service.cli import main


@main.command("train-matte")
@click.option("--catalogue", "catalogue_dir", required=True, type=click.Path(),
              help="Studio photos on plain backdrops, pseudo-masked (fashion-small in the documented runs).")
@click.option("--backgrounds", "backgrounds_dir", required=True, type=click.Path(),
              help="clothing-photos folder: its train/ photos are the composites' backgrounds.")
@click.option("--seed", default=0, show_default=True)
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
