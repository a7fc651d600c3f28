"""CLI: `tailorcard serve` (the embedded default at http://localhost:8000) and `tailorcard worker` (runs generation
jobs apart from the web workers). `tailorcard bench service` is the lab's (lab/cli_benches.py); it reuses
prepare, gunicorn_command and serving_environment."""
from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from pathlib import Path

import click

from features.defaults import HOST, PORT, SAMPLE_CATALOGUE, SEGMENTS
from service.cli import main
from service.cli_options import encoder_option, instance_option, sample_catalogue_option, spec_option

DEMO_SHOPPERS = 400


def prepare(instance: Path, catalogue_path: str, encoder_spec: str, users: int, segments: int,
            variants: str | None = None, sync: bool = True) -> dict:
    """Keys, products and segments in `instance` (and `users` SIMULATED shoppers, for the demo); a database
    prepared before is brought in step with the catalogue, unless `sync` is False (it is served as it is).
    Returns the app config to serve it."""
    from features.catalogue import load_catalogue
    from features.encoder import load_encoder
    from service.bootstrap import ensure_key_file, seed
    from service.db import create_or_upgrade, instance_database_url, make_engine
    database_url = instance_database_url(instance)
    keys = ensure_key_file(instance / "api_keys.json")
    engine = make_engine(database_url)
    create_or_upgrade(engine)
    encoder = load_encoder(encoder_spec)
    catalogue = load_catalogue(catalogue_path)
    click.echo(f"preparing {database_url}: catalogue {catalogue_path}, encoder {encoder_spec} (space {encoder.space_id})")
    report = seed(engine, catalogue, encoder, instance / "embeddings" / "store.npz", users, segments)
    if report.already_prepared and sync:
        sync_database(engine, catalogue, encoder)
    elif report.already_prepared:
        click.echo("catalogue sync: skipped (--no-sync): the database is served as it is")
    elif report.users:
        click.echo(f"{report.products} products, {report.events} SIMULATED events of {report.users} simulated "
                   f"shoppers, {report.segments} taste segments")
    else:
        click.echo(f"{report.products} products, no shoppers yet, {report.segments} taste segments (from the products)")
    engine.dispose()
    return {"DATABASE_URL": database_url, "ENCODER": encoder_spec, "API_KEYS": keys, "VARIANTS": variants}


def sync_database(engine, catalogue, encoder, dry_run: bool = False) -> dict:
    """Bring the database's products in step with the catalogue (service.catalogue_sync); prints what it did."""
    from service.catalogue_sync import sync_catalogue

    def report(summary: dict) -> None:
        verbs = ("would add", "change", "delete") if dry_run else ("added", "changed", "deleted")
        click.echo(f"catalogue sync: {verbs[0]} {summary['adds']}, {verbs[1]} {summary['changes']}, {verbs[2]} "
                   f"{summary['deletes']}; {summary['unchanged']} unchanged"
                   + (" (dry run: nothing written)" if dry_run else ""))
        for named, count in (("added", "adds"), ("changed", "changes"), ("deleted", "deletes")):
            if summary[named]:
                more = " ..." if summary[count] > len(summary[named]) else ""
                click.echo(f"  {named}: {', '.join(summary[named])}{more}")
    return sync_catalogue(engine, catalogue, encoder, dry_run, report=report)


def gunicorn_command(bind: str, workers: int, app: str = "service.app:create_app()") -> list[str]:
    # gthread workers keep connections alive (a storefront's backend reuses them; a new TCP connection per
    # request costs both ends) and serve a slow request's neighbours meanwhile.
    # The config module makes gunicorn honour the app's `Connection: close` (gunicorn drops it as hop-by-hop).
    return [sys.executable, "-m", "gunicorn", "--config", "python:service.gunicorn_config", "--workers", str(workers),
            "--worker-class", "gthread", "--threads", "4", "--keep-alive", "30", "--bind", bind,
            "--access-logfile", "-", "--timeout", "120", app]


def serving_environment(config: dict, instance: Path) -> dict:
    """The app config passed to gunicorn workers as TAILORCARD_* variables (create_app reads them)."""
    env = dict(os.environ)
    env.update({f"TAILORCARD_{k}": json.dumps(v) if not isinstance(v, str) else v for k, v in config.items()})
    env["TAILORCARD_INSTANCE"] = str(instance)
    return env


@main.command()
@click.option("--host", default=HOST, show_default=True)
@click.option("--port", type=int, default=PORT, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True, help="gunicorn workers (0 = Flask dev server).")
@instance_option()
@sample_catalogue_option("catalogue_path")
@encoder_option()
@click.option("--users", type=click.IntRange(min=0), default=None,
              help="SIMULATED shoppers to seed a new database with [default: 400 for the bundled demo catalogue, "
                   "0 for any other: a real store's statistics never mix with simulated ones].")
@click.option("--segments", type=int, default=SEGMENTS, show_default=True, help="Taste segments (k-means over shoppers).")
@spec_option("--generator", "generator_spec", "Generator spec for personalised variants; 'none' serves original photos only.")
@click.option("--no-sync", is_flag=True,
              help="Serve a prepared database as it is: no catalogue sync at start (another machine of the same "
                   "store, whose products may have changed through the API since the file was written).")
def serve(host, port, workers, instance, catalogue_path, encoder_spec, users, segments, generator_spec, no_sync):
    """Serve a store: its catalogue (default: the bundled demo with SIMULATED shoppers), synced into the database
    at every start (unless --no-sync), with the shipped encoder; any other catalogue starts with no shoppers until
    events arrive."""
    instance = Path(instance).resolve()
    variants = None if generator_spec == "none" else generator_spec
    if users is None:
        users = DEMO_SHOPPERS if Path(catalogue_path).resolve() == SAMPLE_CATALOGUE.resolve() else 0
    config = prepare(instance, catalogue_path, encoder_spec, users, segments, variants, sync=not no_sync)
    storefront = next(k["key"] for k in config["API_KEYS"] if k["name"] == "storefront")
    click.echo(f"storefront: http://{host}:{port}/   API docs: http://{host}:{port}/docs")
    click.echo(f"API keys (storefront, admin, analyst): {instance / 'api_keys.json'}; storefront key {storefront}")
    if workers == 0:  # the dev server runs jobs in an in-process thread (JOB_QUEUE's default)
        from service.app import create_app
        create_app(config).run(host=host, port=port, threaded=True)
        return
    become(gunicorn_command(f"{host}:{port}", workers), web_environment(config, instance))


def web_environment(config: dict, instance: Path) -> dict:
    """gunicorn's environment for `serve`: its web workers only queue generation jobs (JOB_QUEUE "none") and
    its master runs one low-priority `tailorcard worker` beside them (TAILORCARD_LOCAL_WORKER, see
    service.gunicorn_config), so generation never takes the cards path's cores. A JOB_QUEUE configured as "rq"
    (RQ workers run the jobs) or "none" (you run `tailorcard worker` yourself) is kept, with no local worker."""
    env = serving_environment(config, instance)
    configured = configured_job_queue(env, instance)
    if configured in ("rq", "none"):
        env["TAILORCARD_JOB_QUEUE"] = configured
        env.pop("TAILORCARD_LOCAL_WORKER", None)
    else:
        env.update(TAILORCARD_JOB_QUEUE="none", TAILORCARD_LOCAL_WORKER="1")
    return env


def configured_job_queue(env: dict, instance: Path) -> str | None:
    """JOB_QUEUE as create_app reads it: TAILORCARD_JOB_QUEUE (JSON or plain), else instance/config.json."""
    if "TAILORCARD_JOB_QUEUE" in env:
        try:
            return json.loads(env["TAILORCARD_JOB_QUEUE"])
        except json.JSONDecodeError:
            return env["TAILORCARD_JOB_QUEUE"]
    path = instance / "config.json"
    return json.loads(path.read_text()).get("JOB_QUEUE") if path.is_file() else None


@main.command()
@click.option("--poll", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Seconds between looks at an empty queue.")
@click.option("--nice", "niceness", type=click.IntRange(0, 19), default=10, show_default=True,
              help="Added to this process's niceness: the web workers' requests come first.")
@click.option("--exit-with-parent", is_flag=True,
              help="Stop when the process that started this one is gone (serve's gunicorn master sets it).")
@click.option("--app", "factory", default="service.app:create_app", show_default=True, hidden=True,
              help="module:function that builds the app (called with {'JOB_QUEUE': 'none'}).")
def worker(poll, niceness, exit_with_parent, factory):
    """Run generation jobs from the database queue in the foreground, at low priority and on one torch thread,
    until SIGTERM or Ctrl-C (the job in hand is finished first). Configured as the web workers are: TAILORCARD_*
    variables, DATABASE_URL, TAILORCARD_INSTANCE's config.json."""
    from service.jobs import NO_GENERATOR, can_generate, run_worker
    parent = os.getppid()
    os.nice(niceness)
    leave_cores_to_the_web()
    logging.basicConfig(format="%(asctime)s worker %(process)d %(levelname)s %(name)s: %(message)s")
    logging.getLogger("service").setLevel(logging.INFO)  # jobs that fail, signals; not every library's chatter
    module, _, name = factory.partition(":")
    app = getattr(importlib.import_module(module), name)({"JOB_QUEUE": "none"})
    claims = can_generate(app)
    click.echo(f"worker {os.getpid()}: jobs from {app.config['DATABASE_URL']} (nice {os.nice(0)}, poll {poll:g} s)"
               + ("" if claims else f"; takes none: {NO_GENERATOR}"))
    ran = run_worker(app.extensions["tailorcard"].jobs, poll, parent if exit_with_parent else None, claims)
    click.echo(f"worker {os.getpid()}: stopped after {ran} jobs")


def leave_cores_to_the_web() -> None:
    """Generation on one thread: a burst of jobs then takes one core at most, and the cards path the rest."""
    try:
        import torch
    except ModuleNotFoundError:
        return
    torch.set_num_threads(1)


def become(command: list[str], env: dict) -> None:
    """Replace this process by `command` (never returns): the PID the user started is then gunicorn's master,
    so SIGTERM / SIGINT / Ctrl-C to it stop the server. A child process would outlive a signalled parent."""
    sys.stdout.flush()  # exec discards what Python still buffers (the URLs and keys printed above)
    sys.stderr.flush()
    os.execvpe(command[0], command, env)
