"""`tailorcard train-upscaler`: argument parsing and printing only (`bench upscale` is the lab's)."""
from __future__ import annotations

import click

from features.defaults import UPSCALER_RUN
from service.cli import main
from service.cli_options import (BUDGET_IN_ALL, clothing_photos_option, export_option, run_folder_options,
                                 seed_option, stop_options)


@main.command("train-upscaler")
@clothing_photos_option("Trains on train/.")
@run_folder_options(UPSCALER_RUN, "Training folder: train.log, checkpoints every minute, the decoded photos.",
                    25.0, BUDGET_IN_ALL)
@click.option("--batch-size", default=16, show_default=True)
@click.option("--patch", default=96, show_default=True, help="HR patch side (a multiple of 4).")
@click.option("--lr", default=1.5e-3, show_default=True)
@click.option("--width", default=48, show_default=True, help="Channels of the hidden layers.")
@click.option("--layers", default=8, show_default=True, help="3x3 convolutions before the residual head.")
@click.option("--threads", default=1, show_default=True, help="torch CPU threads.")
@seed_option
@stop_options
@export_option("Where the finished model is written, with training.log (default: OUT/model).")
def train_upscaler_command(photos_dir, out_dir, minutes, batch_size, patch, lr, width, layers, threads, seed,
                           max_steps, resume, export_dir):
    """Train the 4x upscaler on random patches of amateur photos (CPU; run it with nice)."""
    from imagegen.upscale import UpscalerConfig
    from imagegen.upscale.train import train_upscaler

    train_upscaler(photos_dir, out_dir, minutes, batch_size=batch_size, patch=patch, lr=lr,
                   config=UpscalerConfig(width=width, layers=layers), resume=resume, max_steps=max_steps, seed=seed,
                   export_dir=export_dir, threads=threads)
    click.echo(f"upscaler written to {export_dir or f'{out_dir}/model'}")
