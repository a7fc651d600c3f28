"""Commands of the foundation: pack images, train the encoder, embed a catalogue (`bench encoder` is the lab's)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from features.defaults import EMBEDDING_STORE, ENCODER_RUN
from service.cli import main
from service.cli_options import encoder_option, sample_catalogue_option


@main.command("pack-images")
@click.option("--catalogue", "catalogue_path", required=True, help="Catalogue file or folder.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output .npz.")
@click.option("--size", default=64, show_default=True, help="Square side in pixels.")
@click.option("--webp-quality", type=int, default=None, help="Store as WebP (smaller, lossy) instead of raw pixels.")
def pack_images(catalogue_path, out, size, webp_quality):
    """Decode, pad to white squares and resize every photo once, into one array file."""
    from features.catalogue import load_catalogue
    from features.image_pack import build_image_pack, save_image_pack
    pack = build_image_pack(load_catalogue(catalogue_path), size)
    save_image_pack(pack, out, webp_quality)
    click.echo(f"packed {len(pack.ids)} images at {size}x{size} into {out} ({int(pack.heldout.sum())} held out)")


@main.command("train-encoder")
@click.option("--catalogue", "catalogue_path", required=True,
              help="Products with titles and photos (the shipped encoder: fashion-small, held-out split excluded).")
@click.option("--pack", "pack_path", type=click.Path(path_type=Path), default=None,
              help="Image pack from `pack-images` (made from the catalogue when absent).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=ENCODER_RUN, show_default=True)
@click.option("--export", "export_dir", type=click.Path(path_type=Path), default=None,
              help="Write the finished model here as an open_clip local-dir folder.")
@click.option("--model", default="tailorcard-clip-s64", show_default=True, help="Registered architecture.")
@click.option("--minutes", default=20.0, show_default=True, help="Training time budget.")
@click.option("--max-steps", default=10**9, help="Stop after this many steps.")
@click.option("--batch-size", default=512, show_default=True)
@click.option("--lr", default=1e-3, show_default=True)
@click.option("--device", default=None, help="cuda or cpu (default: cuda when available).")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Continue from the checkpoint in --out.")
def train_encoder(catalogue_path, pack_path, out_dir, export_dir, model, minutes, max_steps, batch_size, lr, device, resume):
    """Train the embedded CLIP contrastively on (photo, title or attribute phrase) pairs."""
    from features.catalogue import load_catalogue
    from features.encoder.clip_encoder import default_device
    from features.encoder.trainer import EncoderTrainer
    from features.encoder.training import EncoderTrainingConfig
    from features.image_pack import build_image_pack, load_image_pack, save_image_pack
    from features.logs import job_logger
    job_logger(out_dir / "train.log")
    catalogue = load_catalogue(catalogue_path, check_images=pack_path is None)
    if pack_path is None:
        pack_path = out_dir / "pack.npz"
        if not pack_path.exists():
            save_image_pack(build_image_pack(catalogue, 64), pack_path)
    config = EncoderTrainingConfig(model=model, minutes=minutes, max_steps=max_steps, batch_size=batch_size, lr=lr)
    trainer = EncoderTrainer(config, load_image_pack(pack_path), catalogue.products, out_dir, device or default_device())
    if resume:
        trainer.resume()
    scores = trainer.train()
    if export_dir:
        trainer.export(export_dir, {"heldout_scores": scores})
        click.echo(f"exported to {export_dir}")
    click.echo(json.dumps(scores))


@main.command("embed")
@sample_catalogue_option("catalogue_path")
@encoder_option()
@click.option("--store", "store_path", type=click.Path(path_type=Path), default=EMBEDDING_STORE, show_default=True)
def embed_command(catalogue_path, encoder_spec, store_path):
    """Embed a catalogue into the store; only new or changed products are encoded."""
    from features.catalogue import load_catalogue
    from features.embedding_store import EmbeddingStore
    from features.encoder import load_encoder
    encoder = load_encoder(encoder_spec)
    store = EmbeddingStore.open(store_path, encoder.space_id, encoder.embed_dim)
    update = store.update(load_catalogue(catalogue_path), encoder)
    click.echo(f"{store_path}: {len(store)} products; encoded {len(update.encoded)}, "
               f"unchanged {update.unchanged}, removed {len(update.removed)}")
