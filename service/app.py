"""The application factory (as in the Flask tutorial): `create_app(test_config=None)`.

Configuration, lowest to highest precedence: DEFAULTS below, `instance/config.json`,
environment variables `TAILORCARD_<KEY>` (JSON-parsed where possible; `DATABASE_URL` too),
then `test_config`.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from flask import Flask

from service import auth, db, errors, metrics
from service.experiments_store import DatabaseExperiments
from service.ranking_cache import RankingCache
from service.variants import NullVariantStore

DEFAULTS = {
    "DATABASE_URL": None,  # default: sqlite file in the instance folder
    "ENCODER": "embedded",  # a spec string (features.encoder) or an encoder object (tests)
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
    # defaults (6 cards, a card a week old counting half), measured by `tailorcard bench variants`
    "VARIANT_MIN_DEMAND": None,
    "VARIANT_DEMAND_HALF_LIFE_DAYS": None,
    "EXPERIMENTS": None,  # an object following service.experiments.Experiments; None = DatabaseExperiments
    "RANKING_CACHE_SIZE": 4096,  # rankings each worker keeps in memory (service.ranking_cache); 0 = off
}


def create_app(test_config: dict | None = None) -> Flask:
    # TAILORCARD_INSTANCE moves the instance folder (config.json, api_keys.json, the SQLite file).
    app = Flask(__name__, instance_path=os.environ.get("TAILORCARD_INSTANCE"), instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_file("config.json", load=json.load, silent=True)
    app.config.from_prefixed_env("TAILORCARD")
    if os.environ.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if test_config:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False  # keep cards in the order they were built; sorting costs on every response
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config["DATABASE_URL"] = app.config["DATABASE_URL"] or f"sqlite:///{Path(app.instance_path) / 'tailorcard.sqlite'}"
    _load_key_file(app)

    errors.init_app(app)
    db.init_app(app)
    auth.init_app(app)
    _init_domain(app)
    _init_jobs(app)
    metrics.init_app(app, queue_depth=app.extensions["tailorcard.jobs"].depth)
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


def _init_domain(app: Flask) -> None:
    from service.live import LiveModel
    app.extensions["tailorcard.experiments"] = app.config["EXPERIMENTS"] or DatabaseExperiments()
    app.extensions["tailorcard.asked"] = set()  # variant jobs this process has already queued
    app.extensions["tailorcard.rankings"] = RankingCache(app.config["RANKING_CACHE_SIZE"])
    app.extensions["tailorcard.encoder"] = LazyEncoder(app.config["ENCODER"])
    app.extensions["tailorcard.variants"] = app.config["VARIANT_STORE"] or _variant_store(app)
    app.extensions["tailorcard.live"] = LazyLive(lambda: LiveModel(
        app.extensions["tailorcard.db"], app.extensions["tailorcard.encoder"].encode_texts).load())


def _variant_store(app: Flask):
    """Card images from a scene generator spec (built once per process), else none: original photos."""
    if not app.config["VARIANTS"]:
        return NullVariantStore()
    from service.variants import build_variant_store
    return build_variant_store(app.config["VARIANTS"], app.extensions["tailorcard.encoder"].get(),
                               Path(app.instance_path) / "variants")


def _init_jobs(app: Flask) -> None:
    from service.generation import GENERATE_VARIANT, generate_variant
    from service.jobs import InProcessWorker, JobQueue, rq_queue_for
    mode = app.config["JOB_QUEUE"]
    if mode not in ("thread", "rq", "none"):
        raise ValueError(f"JOB_QUEUE is {mode!r}; expected 'thread', 'rq' or 'none'")
    if mode == "rq" and not app.config["REDIS_URL"]:
        raise ValueError("JOB_QUEUE is 'rq' but REDIS_URL is not set")
    queue = JobQueue(app.extensions["tailorcard.db"], {GENERATE_VARIANT: generate_variant}, app.app_context,
                     app.config["JOB_LEASE_SECONDS"], rq_queue_for(app.config["REDIS_URL"]) if mode == "rq" else None)
    queue.on_finished = lambda kind, seconds, outcome: app.extensions["tailorcard.metrics"].generation.labels(
        outcome).observe(seconds)
    app.extensions["tailorcard.jobs"] = queue
    queue.recover()
    if mode == "thread":
        worker = InProcessWorker(queue, app.config["JOB_POLL_SECONDS"])
        worker.start()
        app.extensions["tailorcard.worker"] = worker


def _register_blueprints(app: Flask) -> None:
    from service.api import (catalogue, docs, events, experiments, health, items, presentation, scene_rounds,
                             storefront, users, variants)
    for module in (catalogue, docs, events, experiments, health, items, presentation, scene_rounds, storefront, users,
                   variants):
        app.register_blueprint(module.bp)


class LazyEncoder:
    """Loads the encoder on first use: only product changes and search events need it."""

    def __init__(self, spec_or_encoder):
        self._spec = spec_or_encoder if isinstance(spec_or_encoder, str) else None
        self._encoder = None if self._spec else spec_or_encoder
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._encoder is None:
                from features.encoder import load_encoder
                self._encoder = load_encoder(self._spec)
            return self._encoder

    def encode_texts(self, texts):
        return self.get().encode_texts(texts)


class LazyLive:
    """The worker's LiveModel, built on first use (a worker starts fast; /readyz builds it)."""

    def __init__(self, build):
        self._build, self._live, self._lock = build, None, threading.Lock()

    @property
    def ready(self) -> bool:
        return self._live is not None

    def get(self):
        with self._lock:
            if self._live is None:
                self._live = self._build()
            return self._live
