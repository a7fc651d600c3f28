"""`tailorcard train-upscaler`: argument parsing and printing only (`bench upscale` is the lab's)."""
from __future__ import annotations

import click

from service.cli import main

PHOTOS_HELP = "clothing-photos folder (train/ and validation/ class folders of .jpg photos)."


@main.command("train-upscaler")
@click.option("--photos", "photos_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help=PHOTOS_HELP + " Trains on train/.")
@click.option("--out", "out_dir", default="runs/upscale", show_default=True, type=click.Path(file_okay=False),
              help="Training folder: train.log, checkpoints every minute, the decoded photos.")
@click.option("--minutes", default=25.0, show_default=True, help="Training time in all, resumed sessions included.")
@click.option("--batch-size", default=16, show_default=True)
@click.option("--patch", default=96, show_default=True, help="HR patch side (a multiple of 4).")
@click.option("--lr", default=1.5e-3, show_default=True)
@click.option("--width", default=48, show_default=True, help="Channels of the hidden layers.")
@click.option("--layers", default=8, show_default=True, help="3x3 convolutions before the residual head.")
@click.option("--threads", default=1, show_default=True, help="torch CPU threads.")
@click.option("--seed", default=0, show_default=True)
@click.option("--max-steps", default=None, type=int, help="Stop after this many steps (smoke tests).")
@click.option("--resume", is_flag=True, help="Continue from the folder's last checkpoint.")
@click.option("--export", "export_dir", default=None, type=click.Path(file_okay=False),
              help="Where the finished model is written, with training.log (default: OUT/model).")
def train_upscaler_command(photos_dir, out_dir, minutes, batch_size, patch, lr, width, layers, threads, seed,
                           max_steps, resume, export_dir):
    """Train the 4x upscaler on random patches of amateur photos (CPU; run it with nice)."""
    from imagegen.upscale import UpscalerConfig
    from imagegen.upscale.train import train_upscaler

    train_upscaler(photos_dir, out_dir, minutes, batch_size=batch_size, patch=patch, lr=lr,
                   config=UpscalerConfig(width=width, layers=layers), resume=resume, max_steps=max_steps, seed=seed,
                   export_dir=export_dir, threads=threads)
    click.echo(f"upscaler written to {export_dir or f'{out_dir}/model'}")
