"""The application factory (as in the Flask tutorial): `create_app(test_config=None, instance_path=None)`.

Configuration, lowest to highest precedence: DEFAULTS below, `instance/config.json`,
environment variables `TAILORCARD_<KEY>` (JSON-parsed where possible; `DATABASE_URL` too),
then `test_config`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask

from features.defaults import DEFAULT_MODEL
from service import auth, db, errors, metrics
from service.deps import EXTENSION, Deps, LazyEncoder, LazyLive  # noqa: F401 (LazyEncoder, LazyLive: also from here)
from service.experiments_store import DatabaseExperiments
from service.presentation_rules import RULES_TTL_SECONDS, RulesCache
from service.ranking_cache import RankingCache
from service.variants import NullVariantStore

DEFAULTS = {
    "DATABASE_URL": None,  # default: sqlite file in the instance folder
    "ENCODER": DEFAULT_MODEL,  # a spec string (features.encoder) or an encoder object (tests)
    "API_KEYS": [],  # [{"name", "key", "scopes"}]; `tailorcard serve` writes instance/api_keys.json
    "API_KEYS_FILE": "api_keys.json",  # relative to the instance folder
    "STOREFRONT_KEY": None,  # the key the demo page uses (a storefront key is meant to be public)
    "RATE_LIMIT_PER_SECOND": 500.0,
    "RATE_LIMIT_BURST": 1000,
    "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,  # request bodies, uploads included
    "MAX_EVENTS_PER_REQUEST": 500,
    "MAX_CARDS": 100,
    # "thread": an in-process worker thread (the dev server); "rq": also hand jobs to RQ (Redis, REDIS_URL);
    # "none": only queue them (`tailorcard serve`'s web workers; `tailorcard worker` runs them)
    "JOB_QUEUE": "thread",
    "REDIS_URL": None,
    "JOB_POLL_SECONDS": 1.0,
    "JOB_LEASE_SECONDS": 600.0,
    "VARIANT_STORE": None,  # an object following service.variants.VariantStore; None = see VARIANTS
    "VARIANTS": None,  # a scene generator spec ("embedded") to make card images with; None = original photos only
    # a (product, segment) is generated once enough recent cards wanted it; None = imagegen.variants.queue's
    # defaults (6 cards, a card a week old counting half)
    "VARIANT_MIN_DEMAND": None,
    "VARIANT_DEMAND_HALF_LIFE_DAYS": None,
    # C2PA Content Credentials in every made image, where the instance has a key (imagegen/c2pa_manifest.py)
    "C2PA_SIGNING_KEY": None, "C2PA_CERTIFICATE_CHAIN": None, "C2PA_SIGNING_ALG": "ES256", "C2PA_TIMESTAMP_URL": None,
    "PRESENTATION_RULES_TTL_SECONDS": RULES_TTL_SECONDS,  # how old a worker's copy of the merchant's scene switches may be
    "CLOCK": None,  # an object with time() and monotonic() (service.clock); None = the system's
    "EXPERIMENTS": None,  # an object following service.experiments.Experiments; None = DatabaseExperiments
    "RANKING_CACHE_SIZE": 4096,  # rankings each worker keeps in memory (service.ranking_cache); 0 = off
    "RECOVER_JOBS_AT_START": True,  # requeue interrupted jobs and re-announce queued ones to RQ (off in RQ's job forks)
}


def create_app(test_config: dict | None = None, instance_path: str | Path | None = None) -> Flask:
    # The instance folder holds config.json, api_keys.json, the SQLite file and the variants: `instance_path`,
    # else TAILORCARD_INSTANCE, else Flask's default (a simulation passes its own, so it leaves the server's alone).
    instance_path = instance_path or os.environ.get("TAILORCARD_INSTANCE")
    app = Flask(__name__, instance_path=str(Path(instance_path).absolute()) if instance_path else None,
                instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_file("config.json", load=json.load, silent=True)
    app.config.from_prefixed_env("TAILORCARD")
    if os.environ.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if test_config:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False  # keep cards in the order they were built; sorting costs on every response
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config["DATABASE_URL"] = app.config["DATABASE_URL"] or f"sqlite:///{Path(app.instance_path) / db.SQLITE_FILE}"
    _load_key_file(app)

    errors.init_app(app)
    db.init_app(app)
    app.extensions[EXTENSION] = _dependencies(app)
    metrics.init_app(app)
    _start_jobs(app.extensions[EXTENSION], app.config)
    _register_blueprints(app)
    return app


def _load_key_file(app: Flask) -> None:
    """Keys written by `tailorcard serve` join the configured ones; the storefront key feeds the demo page."""
    path = Path(app.instance_path) / app.config["API_KEYS_FILE"]
    if not app.config["API_KEYS"] and path.is_file():
        app.config["API_KEYS"] = json.loads(path.read_text())
    if app.config["STOREFRONT_KEY"] is None:
        storefront = [k["key"] for k in app.config["API_KEYS"] if "cards" in k.get("scopes", [])]
        app.config["STOREFRONT_KEY"] = storefront[0] if storefront else None


def _dependencies(app: Flask) -> Deps:
    from service.clock import SystemClock
    from service.live import LiveModel
    engine = app.extensions["tailorcard.db"]  # made by db.init_app
    encoder = LazyEncoder(app.config["ENCODER"])
    queue = _job_queue(app, engine)
    clock = app.config["CLOCK"] or SystemClock()
    dependencies = Deps(
        db=engine,
        clock=clock,
        keys=auth.load_keys(app.config["API_KEYS"]),
        limiter=auth.RateLimiter(app.config["RATE_LIMIT_PER_SECOND"], app.config["RATE_LIMIT_BURST"]),
        experiments=app.config["EXPERIMENTS"] or DatabaseExperiments(),
        rankings=RankingCache(app.config["RANKING_CACHE_SIZE"]),
        encoder=encoder,
        variants=app.config["VARIANT_STORE"] or _variant_store(app, encoder),
        live=LazyLive(lambda: LiveModel(engine, encoder.encode_texts, clock=clock).load()),
        presentation_rules=RulesCache(engine, app.config["PRESENTATION_RULES_TTL_SECONDS"]),
        jobs=queue,
        metrics=metrics.Metrics(queue.depth))
    queue.on_finished = lambda kind, seconds, outcome: dependencies.metrics.generation.labels(
        outcome).observe(seconds)
    return dependencies


def _variant_store(app: Flask, encoder: LazyEncoder):
    """Card images from a scene generator spec (built once per process), else none: original photos."""
    if not app.config["VARIANTS"]:
        return NullVariantStore()
    from imagegen.c2pa_manifest import signer_from_config
    from service.variants import build_variant_store
    return build_variant_store(app.config["VARIANTS"], encoder.get(), Path(app.instance_path) / "variants",
                               signer_from_config(app.config, base=app.instance_path))


def _job_queue(app: Flask, engine):
    from service.generation import GENERATE_VARIANT, generate_variant
    from service.jobs import JobQueue, rq_queue_for
    mode = app.config["JOB_QUEUE"]
    if mode not in ("thread", "rq", "none"):
        raise ValueError(f"JOB_QUEUE is {mode!r}; expected 'thread', 'rq' or 'none'")
    if mode == "rq" and not app.config["REDIS_URL"]:
        raise ValueError("JOB_QUEUE is 'rq' but REDIS_URL is not set (TAILORCARD_REDIS_URL)")
    return JobQueue(engine, {GENERATE_VARIANT: generate_variant}, app.app_context,
                    app.config["JOB_LEASE_SECONDS"], rq_queue_for(app.config["REDIS_URL"]) if mode == "rq" else None)


def _start_jobs(dependencies: Deps, config) -> None:
    """Jobs left running by a process that died are queued again; the dev server runs them in a thread."""
    from service.jobs import InProcessWorker
    if config["RECOVER_JOBS_AT_START"]:
        dependencies.jobs.recover()
    if config["JOB_QUEUE"] == "thread":
        dependencies.worker = InProcessWorker(dependencies.jobs, config["JOB_POLL_SECONDS"])
        dependencies.worker.start()


def _register_blueprints(app: Flask) -> None:
    from service.api import (catalogue, docs, events, experiments, health, items, presentation, scene_rounds,
                             storefront, users, variants)
    for module in (catalogue, docs, events, experiments, health, items, presentation, scene_rounds, storefront, users,
                   variants):
        app.register_blueprint(module.bp)
