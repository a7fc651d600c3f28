"""`tailorcard train-scene`: argument parsing and printing only (imagegen.scene.train does the work)."""
from __future__ import annotations

from pathlib import Path

import click

from features.defaults import SCENE_MOVQ_IMAGES, SCENE_RUN
from service.cli import main
from service.cli_options import (encoder_option, export_option, photo_sets, run_folder_options, seed_option,
                                 spec_option, stop_options)


@main.command("train-scene")
@photo_sets("Catalogue of studio photos on plain backdrops (their pseudo-masks are the products kept).",
            "clothing-photos folder: its train/ photos are the real backdrops.", folders_only=True)
@run_folder_options(SCENE_RUN, "Training folder: train.log, the prepared composites, checkpoints every minute.",
                    30.0, "Training time of this session.")
@click.option("--samples", default=12000, show_default=True, help="Composites prepared once for training.")
@click.option("--products", default=16000, show_default=True, help="Catalogue photos to pseudo-mask.")
@encoder_option("Condition space.")
@spec_option("--movq", "movq_spec", "Generator spec whose autoencoder (movq) the scene generator reuses.")
@click.option("--background-region", default=None,
              help="Which squares of the clothing-photos become real backdrops: top-corners (the default: floor, bed, "
                   "wall) or centre (each holds its photo's garment, which the generator learns to paint).")
@click.option("--movq-minutes", default=10.0, show_default=True, type=click.FloatRange(min=0),
              help="Fine-tune the --movq autoencoder on scene composites first (0: use it as it is; trained on "
                   "products on white, it cannot carry a plain coloured backdrop).")
@click.option("--movq-images", default=SCENE_MOVQ_IMAGES, show_default=True, type=click.IntRange(min=1),
              help="Composites the autoencoder is fine-tuned on (each with its backdrop alone).")
@click.option("--batch-size", default=64, show_default=True)
@click.option("--guidance-scale", default=4.5, show_default=True, type=click.FloatRange(min=0),
              help="Classifier-free guidance the exported generator paints with (at 3.0 the shipped weights' cards "
                   "were too alike across segments on clothing-photos).")
@seed_option
@stop_options
@export_option("Write the finished generator here (default OUT/model).")
def train_scene_command(catalogue_dir, backgrounds_dir, out_dir, minutes, samples, products, encoder_spec, movq_spec,
                        background_region, movq_minutes, movq_images, batch_size, guidance_scale, seed, max_steps, resume, export_dir):
    """Train the taste-conditioned scene generator (an inpainting UNet) on CPU; run it with nice."""
    from features.encoder import load_encoder
    from imagegen.pipeline import load_decoder_parts
    from imagegen.scene.data import SCENE_BACKGROUNDS
    from imagegen.scene.train import export_scene_generator, prepare_scene_set, train_scene
    from features.logs import job_logger

    log = job_logger(Path(out_dir) / "train.log").info
    movq = load_decoder_parts(movq_spec)[1]
    scenes, movq = prepare_scene_set(catalogue_dir, backgrounds_dir, out_dir, load_encoder(encoder_spec, device="cpu"),
                                     movq, count=samples, products=products, seed=seed,
                                     region=background_region or SCENE_BACKGROUNDS, movq_minutes=movq_minutes,
                                     movq_images=movq_images, movq_max_steps=max_steps, log=log)
    train_scene(scenes, out_dir, minutes, batch_size=batch_size, resume=resume, max_steps=max_steps, seed=seed)
    export_scene_generator(out_dir, export_dir or f"{out_dir}/model", movq, condition_bank=scenes.conditions.numpy(),
                           guidance_scale=guidance_scale)
    click.echo(f"scene generator written to {export_dir or f'{out_dir}/model'}")
