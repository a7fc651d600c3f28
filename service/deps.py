"""What the service's views and use cases work with: one typed object per app, made by create_app.

    from service.deps import deps
    with deps().db.connect() as connection: ...
    ranking = deps().live.get().rank(user_id, n)

create_app stores it once as `app.extensions["tailorcard"]`; outside a request (tests, the lab, a worker)
reach it as `app.extensions["tailorcard"]`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from flask import current_app

if TYPE_CHECKING:
    import sqlalchemy as sa

    from imagegen.variants.queue import DemandQueue
    from service.auth import ApiKey, RateLimiter
    from service.clock import Clock
    from service.experiments import Experiments
    from service.jobs import InProcessWorker, JobQueue
    from service.live import LiveModel
    from service.metrics import Metrics
    from service.presentation_rules import RulesCache
    from service.ranking_cache import RankingCache
    from service.variants import VariantStore

EXTENSION = "tailorcard"


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

    def __init__(self, build: Callable[[], LiveModel]):
        self._build, self._live, self._lock = build, None, threading.Lock()

    @property
    def ready(self) -> bool:
        return self._live is not None

    def get(self) -> LiveModel:
        with self._lock:
            if self._live is None:
                self._live = self._build()
            return self._live


@dataclass(eq=False)
class Deps:
    """Everything one app (one worker process) keeps beside its config."""
    db: sa.Engine
    clock: Clock  # timestamps and refresh intervals (service.clock)
    keys: list[ApiKey]  # the API keys (service.auth)
    limiter: RateLimiter  # per key
    experiments: Experiments
    rankings: RankingCache  # this worker's rankings in memory
    encoder: LazyEncoder
    variants: VariantStore  # card images
    live: LazyLive  # the worker's LiveModel
    presentation_rules: RulesCache  # the merchant's rules, re-read at most every TTL seconds
    jobs: JobQueue
    metrics: Metrics
    worker: InProcessWorker | None = None  # JOB_QUEUE "thread" only
    asked: set[str] = field(default_factory=set)  # variant jobs this process has already queued
    demand: DemandQueue | None = None  # made on first use: service.generation.demand_queue
    lock: Any = field(default_factory=threading.Lock, repr=False)  # guards the lazy fields


def deps() -> Deps:
    """The current app's dependencies (inside an app or request context)."""
    return current_app.extensions[EXTENSION]
