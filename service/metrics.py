"""Prometheus metrics: request latency, card cache hit rate, job queue depth, generation time.

One registry per app (tests build many apps). Under gunicorn each worker counts its own
requests; set PROMETHEUS_MULTIPROC_DIR for prometheus_client's multi-process mode to merge them.
"""
from __future__ import annotations

import time

from flask import Blueprint, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.deps import deps

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

bp = Blueprint("metrics", __name__)


class Metrics:
    def __init__(self, queue_depth):
        self.registry = CollectorRegistry()
        self.latency = Histogram("tailorcard_request_seconds", "Request latency by endpoint",
                                 ["endpoint", "method", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.card_cache = Counter("tailorcard_card_cache_total", "Card lookups by cache result", ["result"],
                                  registry=self.registry)
        self.events = Counter("tailorcard_events_ingested_total", "New events stored", registry=self.registry)
        self.generation = Histogram("tailorcard_generation_seconds", "Variant generation time per job",
                                    ["outcome"], buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120), registry=self.registry)
        depth = Gauge("tailorcard_jobs_queued", "Jobs waiting in the durable queue", registry=self.registry)
        depth.set_function(queue_depth)


def current() -> Metrics:
    return deps().metrics


@bp.get("/metrics")
def metrics():
    # content_type, not mimetype: CONTENT_TYPE_LATEST already names its charset (mimetype added a second)
    return Response(generate_latest(current().registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app) -> None:
    """The /metrics endpoint and request timing; the app's Metrics is its Deps' (made by create_app)."""
    app.register_blueprint(bp)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def observe_latency(response):
        if "started" in g:
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            current().latency.labels(endpoint, request.method, str(response.status_code)).observe(
                time.perf_counter() - g.started)
        return response
