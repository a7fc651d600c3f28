"""`tailorcard train-generator`: argument parsing and printing only (the DCGAN baseline and `bench generator`
are the lab's: lab/cli_benches.py)."""
from __future__ import annotations

from pathlib import Path

import click

from service.cli import main
from service.cli_options import export_option, pack_training_options, stage_kwargs


@main.command("train-generator")
@pack_training_options("Training folder: checkpoints every ~30 s, train.log.", "Time budget of each stage (wall clock).")
@click.option("--stage", type=click.Choice(["all", "autoencoder", "unet"]), default="all", show_default=True)
@click.option("--conditions", "conditions_path", type=click.Path(dir_okay=False),
              help="Embedding store (.npz) of the pack's products, or a float32 .npy in pack order (with --space-id).")
@click.option("--space-id", default=None, help="Embedding space of a .npy conditions file.")
@click.option("--encoder", "encoder_spec", default=None, help="Compute the conditions with this encoder (e.g. embedded).")
@export_option("Where the finished generator is written (default: OUT/model; the shipped one only when named).")
@click.option("--movq-config", default="movq", show_default=True, help="Config name in imagegen/configs or a JSON path.")
@click.option("--unet-config", default="unet", show_default=True)
@click.option("--autoencoder-minutes", default=None, type=float, help="Budget of the autoencoder stage (default: --minutes).")
def train_generator(pack_path, out_dir, minutes, device, batch_size, max_steps, resume, stage,
                    conditions_path, space_id, encoder_spec, export_dir, movq_config, unet_config, autoencoder_minutes):
    """Train the autoencoder, then the UNet conditioned on CLIP image embeddings; export the generator."""
    from features.image_pack import load_image_pack
    from imagegen.training import save_generator, train_autoencoder, train_unet

    pack = load_image_pack(pack_path)
    kwargs = stage_kwargs(device, batch_size, max_steps, resume)
    if stage in ("all", "unet"):  # fail on bad conditions before spending the autoencoder's time
        conditions, space = _conditions(pack, conditions_path, space_id, encoder_spec, kwargs["device"])
    if stage in ("all", "autoencoder"):
        train_autoencoder(pack, out_dir, autoencoder_minutes or minutes, config=movq_config, **kwargs)
    if stage in ("all", "unet"):
        train_unet(pack, conditions, out_dir, minutes, config=unet_config, **kwargs)
        export_dir = export_dir or str(Path(out_dir) / "model")
        save_generator(out_dir, export_dir, space_id=space)
        click.echo(f"generator ({space}) written to {export_dir}")


def _conditions(pack, conditions_path, space_id, encoder_spec, device):
    from imagegen.training.conditions import encode_conditions, load_conditions
    if bool(conditions_path) == bool(encoder_spec):
        raise click.UsageError("give exactly one of --conditions FILE or --encoder SPEC")
    if conditions_path:
        return load_conditions(conditions_path, pack, space_id)
    from features.encoder import load_encoder
    encoder = load_encoder(encoder_spec, device=device)
    return encode_conditions(pack, encoder), encoder.space_id
