"""The lab's benches of the models and the service (`tailorcard bench encoder`, `generator`, `matte`, `upscale`,
`service`) and the DCGAN baseline's training (`tailorcard train-dcgan`). Added by lab.cli.register; argument
parsing and printing only. Defaults name only what a fresh install has (the shipped sample and models); data sets
outside the project are given on the command line, and nothing is written under data/ unless a path there is."""
from __future__ import annotations

import json
from pathlib import Path

import click

from features.defaults import BENCH_SERVICE_INSTANCE, DCGAN_DIR, DEFAULT_MODEL, SEGMENTS
from features.model_spec import parse_model_spec
from lab.output import print_result
from service.cli_options import (MODEL_HELP, clothing_photos_option, encoder_option, export_option, grid_option,
                                 instance_option, json_option, pack_training_options, photo_sets,
                                 sample_catalogue_option, seed_option, spec_option, stage_kwargs)

RESULTS = "the results as one JSON object"  # what --json prints last


def register(main: click.Group, bench: click.Group) -> None:
    main.add_command(train_dcgan_command)
    for command in (bench_encoder_command, bench_generator_command, bench_matte_command, bench_upscale_command,
                    bench_autoencoder_command, bench_service):
        bench.add_command(command)


@click.command("encoder")
@click.option("--catalogue", "catalogue_path", required=True,
              help="Score every product of this catalogue; the README's numbers: fashion-small with --heldout.")
@click.option("--heldout", is_flag=True,
              help="Only the products the embedded encoder never trained on (its held-out split of fashion-small).")
@encoder_option()
@json_option()
def bench_encoder_command(catalogue_path, heldout, encoder_spec, as_json):
    """Zero-shot top-1 of the attributes it knows (when the catalogue has them), title-to-image recall@10, images/s."""
    from features.catalogue import load_catalogue
    from features.encoder import load_encoder
    from features.encoder.evaluation import ZERO_SHOT_COLUMNS
    from lab.encoder_bench import bench_encoder, heldout_products
    catalogue = load_catalogue(catalogue_path)
    if heldout:
        catalogue = heldout_products(catalogue)
    result = bench_encoder(load_encoder(encoder_spec), catalogue)
    click.echo(f"encoder {result['encoder']} on {result['products']} products ({catalogue_path}"
               f"{', held-out split' if heldout else ''})")
    for key, column in ZERO_SHOT_COLUMNS.items():
        article = "an" if column[0].lower() in "aeiou" else "a"
        click.echo(f"  {key:28s} {result.get(key, f'n/a (needs {article} {column} column)')}")
    for key in ("text_to_image_recall_at_10", "images_per_s"):
        click.echo(f"  {key:28s} {result[key]}")
    if as_json:
        click.echo(json.dumps(result))


@click.command("train-dcgan")
@pack_training_options("Training folder: checkpoints (OUT/dcgan) every ~30 s, train.log.", "Time budget (wall clock).")
@export_option("Where the finished generator is written (default: OUT/dcgan-model); the shipped one, which "
               "`bench generator` compares with, is data/models/dcgan: replaced only when given here.")
def train_dcgan_command(pack_path, out_dir, minutes, device, batch_size, max_steps, resume, export_dir):
    """Train the DCGAN baseline (the original design's) on the same 64x64 images."""
    from features.image_pack import load_image_pack
    from lab.dcgan_training import train_dcgan

    export_dir = export_dir or str(Path(out_dir) / "dcgan-model")
    train_dcgan(load_image_pack(pack_path), out_dir, minutes, export_dir=export_dir,
                **stage_kwargs(device, batch_size, max_steps, resume))
    click.echo(f"DCGAN generator written to {export_dir}")


@click.command("generator")
@sample_catalogue_option("catalogue_dir")
@spec_option("--generator", "generator_spec")
@encoder_option()
@click.option("--dcgan", "dcgan_dir", default=str(DCGAN_DIR), show_default=True, type=click.Path(file_okay=False))
@click.option("--limit", default=128, show_default=True, help="Held-out products to use (sampled with --seed).")
@seed_option
@grid_option("Write a PNG grid here: real | ours | DCGAN, one product per row (nothing is written without it).")
@json_option(RESULTS)
def bench_generator_command(catalogue_dir, generator_spec, encoder_spec, dcgan_dir, limit, seed, grid_path, as_json):
    """Quality and CPU speed of the generator against the DCGAN baseline, on held-out products."""
    from features.catalogue import load_catalogue
    from features.encoder import load_encoder
    from imagegen import load_generator
    from lab.dcgan import load_dcgan_generator
    from lab.generator_bench import bench_generator

    encoder = load_encoder(encoder_spec, device="cpu")
    generator = load_generator(generator_spec, device="cpu")
    result = bench_generator(load_catalogue(catalogue_dir), encoder, generator, load_dcgan_generator(dcgan_dir),
                             limit=limit, seed=seed, grid_path=grid_path, log=lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"products: {result['products']} held-out, {result['image_size']}px, {result['sampler']}")
    for name, value in result["fd_clip"].items():
        click.echo(f"fd_clip.{name}: {value}")
    for name, value in result["colour_delta_e"].items():
        click.echo(f"colour_delta_e.{name}: {value}")
    click.echo(f"type_agreement: {result['type_agreement']} (real photos: {result['type_agreement_real_photos']})")
    click.echo(f"images_per_s: {result['images_per_s']} ({result['device']}, {result['torch_threads']} threads)")
    if grid_path:
        click.echo(f"grid: {result['grid']}")


@click.command("matte")
@photo_sets("Studio photos on plain backdrops, their held-out split (fashion-small gave the README's numbers).",
            "clothing-photos folder: its validation/ photos are the backgrounds and amateur photos.")
@seed_option
@click.option("--model", "model_spec", default=DEFAULT_MODEL, show_default=True,
              help="Model spec: 'embedded' (data/models/embedded-matte, the shipped matte) or 'local-dir:PATH' "
                   "(a folder `tailorcard train-matte` writes).")
@click.option("--composites", default=400, show_default=True, help="Held-out composites with known masks.")
@click.option("--photos", default=400, show_default=True, help="Held-out catalogue photos.")
@grid_option("Write the visual check here (PNG): photos beside their matte over blue, unsure ones barred red.")
@json_option(RESULTS)
def bench_matte_command(catalogue_dir, backgrounds_dir, seed, model_spec, composites, photos, grid_path, as_json):
    """IoU of the matte on held-out composites and catalogue photos, fallback rates, CPU speed."""
    from imagegen.matte import load_matte_model
    from lab.matte_bench import bench_matte

    model = load_matte_model(parse_model_spec(model_spec, "matte").folder)
    result = bench_matte(model, catalogue_dir, backgrounds_dir, composites=composites, photos=photos, seed=seed,
                         log=lambda line: click.echo(line, err=True))
    if grid_path:
        from lab.matte_grid import matte_grid
        Path(grid_path).parent.mkdir(parents=True, exist_ok=True)
        matte_grid(model, catalogue_dir, backgrounds_dir, seed=seed).save(grid_path, optimize=True)
        result["grid"] = str(grid_path)
    print_result(result, as_json)


@click.command("upscale")
@spec_option("--model", "model_spec", MODEL_HELP)
@clothing_photos_option("Benches on validation/ unless the catalogue's photos are large enough.")
@click.option("--catalogue", "catalogue_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="The store's catalogue: its own photos are the held-out set when >= 240 px on the long side.")
@click.option("--limit", default=None, type=int, help="At most this many held-out photos.")
@json_option(RESULTS)
def bench_upscale_command(model_spec, photos_dir, catalogue_dir, limit, as_json):
    """PSNR gain of the upscaler over bicubic on held-out photos (4x down and back up), CPU speed."""
    from imagegen.upscale import load_upscaler
    from lab.upscale_bench import bench_upscale

    model = load_upscaler(parse_model_spec(model_spec, "upscaler").folder)
    result = bench_upscale(model, catalogue_dir, photos_dir, limit=limit, log=lambda line: click.echo(line, err=True))
    print_result(result, as_json)


@click.command("autoencoder")
@spec_option("--scenes", "scene_spec", "Scene generator spec whose autoencoder (movq) is measured.")
@json_option(RESULTS)
def bench_autoencoder_command(scene_spec, as_json):
    """How far off a scene generator's autoencoder reconstructs plain coloured squares (CIELAB delta E)."""
    from imagegen.pipeline import load_decoder_parts
    from lab.autoencoder_bench import plain_colour_reconstruction

    result = plain_colour_reconstruction(load_decoder_parts(scene_spec, "scene")[1])
    print_result({**result, "scenes": scene_spec}, as_json)


@click.command("service")
@click.option("--rate", type=float, default=200.0, show_default=True, help="Card requests per second.")
@click.option("--requests", "n_requests", type=int, default=2000, show_default=True, help="Card requests measured.")
@click.option("--shoppers", type=int, default=100, show_default=True, help="Distinct SIMULATED shoppers asked for.")
@click.option("--events", "n_events", type=int, default=5000, show_default=True, help="Events posted (batches of 100).")
@click.option("--new-shoppers", "new_shopper_share", type=float, default=0.005, show_default=True,
              help="Share of card requests from first-time shoppers (ranked then: cache misses).")
@instance_option(BENCH_SERVICE_INSTANCE)
@sample_catalogue_option("catalogue_path")
@encoder_option()
@json_option()
def bench_service(rate, n_requests, shoppers, n_events, new_shopper_share, instance, catalogue_path, encoder_spec,
                  as_json):
    """gunicorn (2 workers, loopback) under a bounded load: card latency at a fixed rate, then again with a
    `tailorcard worker` generating card images beside it, then event ingestion."""
    import os
    import shutil

    from lab.load import BENCH_APP, generation_note, run_service_bench
    from service.cli_service import gunicorn_command, prepare, serving_environment
    from service.db import SQLITE_FILE
    instance = Path(instance).resolve()
    database = instance / SQLITE_FILE
    for stale in instance.glob(f"{SQLITE_FILE}*"):  # each run starts from the same prepared state
        stale.unlink()
    shutil.rmtree(instance / "variants", ignore_errors=True)  # card images of an earlier run: none made yet
    os.environ.pop("DATABASE_URL", None)
    config = prepare(instance, catalogue_path, encoder_spec, users=max(shoppers, 300), segments=SEGMENTS)
    # every card shown asks for its images at once: the warm-up leaves the worker a backlog
    config.update(RATE_LIMIT_PER_SECOND=100_000.0, RATE_LIMIT_BURST=100_000, VARIANTS="embedded", VARIANT_MIN_DEMAND=1)
    env = {**serving_environment(config, instance), "TAILORCARD_JOB_QUEUE": "none"}
    env.pop("TAILORCARD_LOCAL_WORKER", None)  # the bench starts its worker itself, after the first phase
    report = run_service_bench(lambda bind, workers: gunicorn_command(bind, workers, f"{BENCH_APP}()"), env,
                               config["API_KEYS"], rate=rate, n_requests=n_requests, n_shoppers=shoppers,
                               n_events=n_events, new_shopper_share=new_shopper_share, log=click.echo)
    report["generation"] = generation_note()
    report["database"] = str(database)
    for key, value in report.items():
        click.echo(f"  {key}: {value}")
    if as_json:
        click.echo(json.dumps(report))
