"""Liveness (the process answers) and readiness (database reachable, model loaded)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from service.deps import deps
from service.errors import ApiError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Also builds this worker's model, so a load balancer's first probe warms it up."""
    try:
        with deps().db.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        live = deps().live.get()
    except Exception as exc:
        current_app.logger.warning("not ready: %s", exc)
        raise ApiError(503, "not_ready", "the database or the model is not available yet") from None
    return jsonify(status="ready", products=len(live.products), skipped_events=len(live.skipped_events))
