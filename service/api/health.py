"""Liveness (the process answers) and readiness (service.readiness: database reachable, model loaded)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from service.errors import ApiError
from service.readiness import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """A 503 until the database answers and this worker's model is built (the probe builds it)."""
    try:
        ready = readiness()
    except Exception as exc:  # any failure means "not yet": the cause goes to the log, never to the prober
        current_app.logger.warning("not ready: %s", exc)
        raise ApiError(503, "not_ready", "the database or the model is not available yet") from None
    return jsonify(status="ready", **ready)
