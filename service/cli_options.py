"""Click options that several `tailorcard` commands declare alike, the product's (service/cli_*.py) and the lab's
(lab/cli*.py) both, each declared once here with its default from features.defaults. A command lists them where
its --help shows them; where commands explain an option differently, the command gives the help text."""
from __future__ import annotations

from pathlib import Path

import click

from features.defaults import DEFAULT_MODEL, DEFAULT_SEED, GENERATOR_RUN, INSTANCE_DIR, SAMPLE_CATALOGUE

PHOTOS_HELP = "clothing-photos folder (train/ and validation/ class folders of .jpg photos)."
MODEL_HELP = "Model spec: 'embedded' (the shipped one) or 'local-dir:PATH'."
BUDGET_IN_ALL = "Training time in all, resumed sessions included."
SERVED_INSTANCE_HELP = "The served instance (its SQLite file), unless DATABASE_URL is set."


def stacked(*decorators):
    """One decorator applying `decorators` in the order given, the order --help lists their options in."""
    def apply(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return apply


def spec_option(name: str, dest: str, help: str | None = None, default: str | None = DEFAULT_MODEL):
    """A model spec (--encoder, --generator, --scenes, --model, ...), by default the shipped model of its kind."""
    return click.option(name, dest, default=default, show_default=default is not None, help=help)


def encoder_option(help: str | None = None):
    return spec_option("--encoder", "encoder_spec", help)


def sample_catalogue_option(dest: str, help: str | None = None):
    """--catalogue defaulting to the shipped sample (a file or folder of any store's catalogue otherwise)."""
    return click.option("--catalogue", dest, type=click.Path(), default=str(SAMPLE_CATALOGUE), show_default=True,
                        help=help)


def instance_option(default: Path = INSTANCE_DIR, help: str | None = None):
    """The folder of a served instance (api_keys.json, the SQLite database, config.json)."""
    return click.option("--instance", type=click.Path(file_okay=False, path_type=Path), default=default,
                        show_default=True, help=help)


def served_engine(instance: Path, writes: bool):
    """The database of a served instance (DATABASE_URL when set, else its SQLite file): a command that feeds a
    running store is refused, with what to do, when there is no store there yet, and creates nothing then; only a
    run that writes brings the schema up to date (a dry run writes nothing)."""
    import os

    from features.errors import TailorcardError
    from service.db import SQLITE_FILE, create_or_upgrade, instance_database_url, make_engine
    database = instance.resolve() / SQLITE_FILE
    if not os.environ.get("DATABASE_URL") and not database.is_file():
        raise TailorcardError(f"no store at {instance}: {database} does not exist; start it first "
                              f"(tailorcard serve --instance {instance}), or set DATABASE_URL")
    engine = make_engine(instance_database_url(instance.resolve()))
    if writes:
        create_or_upgrade(engine)
    return engine


def photo_sets(catalogue_help: str, backgrounds_help: str, folders_only: bool = False):
    """--catalogue (studio photos on plain backdrops) and --backgrounds (a clothing-photos folder): what the
    matte and the scene generator are trained and benched on."""
    kind = click.Path(file_okay=False) if folders_only else click.Path()
    return stacked(click.option("--catalogue", "catalogue_dir", required=True, type=kind, help=catalogue_help),
                   click.option("--backgrounds", "backgrounds_dir", required=True, type=kind, help=backgrounds_help))


def clothing_photos_option(use: str):
    """--photos: a clothing-photos folder; `use` says which of its photos the command takes."""
    return click.option("--photos", "photos_dir", required=True, type=click.Path(exists=True, file_okay=False),
                        help=f"{PHOTOS_HELP} {use}")


seed_option = click.option("--seed", default=DEFAULT_SEED, show_default=True)


def json_option(what: str = "one JSON object"):
    return click.option("--json", "as_json", is_flag=True, help=f"Last stdout line: {what}.")


def grid_option(help: str):
    """An image a bench writes only when asked: no default, so nothing lands anywhere (data/ least of all) unasked."""
    return click.option("--grid", "grid_path", default=None, type=click.Path(dir_okay=False), help=help)


# training commands: the run folder, its budget, how it stops and resumes, where the model goes

def run_folder_options(out_dir: Path, out_help: str, minutes: float, minutes_help: str):
    return stacked(
        click.option("--out", "out_dir", default=str(out_dir), show_default=True, type=click.Path(file_okay=False),
                     help=out_help),
        click.option("--minutes", default=minutes, show_default=True, help=minutes_help))


stop_options = stacked(
    click.option("--max-steps", default=None, type=int, help="Stop after this many steps (smoke tests)."),
    click.option("--resume", is_flag=True, help="Continue from the folder's last checkpoint."))


def export_option(help: str):
    """Where the finished model goes; by default a folder inside the run's, never a shipped one."""
    return click.option("--export", "export_dir", default=None, type=click.Path(file_okay=False), help=help)


def pack_training_options(out_help: str, minutes_help: str):
    """The options of the generators trained on an image pack (`train-generator`, the lab's `train-dcgan`)."""
    return stacked(
        click.option("--pack", "pack_path", required=True, type=click.Path(dir_okay=False),
                     help="Image pack (.npz) from `tailorcard pack-images`."),
        run_folder_options(GENERATOR_RUN, out_help, 10.0, minutes_help),
        click.option("--device", default=None, help="cuda or cpu (default: cuda if available)."),
        click.option("--batch-size", default=None, type=int, help="Default: the stage's own."),
        stop_options)


def stage_kwargs(device, batch_size, max_steps, resume) -> dict:
    """pack_training_options as a training stage's keyword arguments (a stage keeps its own batch size unless given)."""
    import torch
    kwargs = {"device": device or ("cuda" if torch.cuda.is_available() else "cpu"), "max_steps": max_steps,
              "resume": resume}
    return kwargs | ({"batch_size": batch_size} if batch_size else {})
