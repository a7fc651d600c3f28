"""Behaviour events in: validated as features.events does, idempotent by event_id, durable before 202."""
from __future__ import annotations

import pandas as pd
from flask import Blueprint, current_app, jsonify

from features.events import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, rejects_summary, validate_events
from service import repository
from service.api.params import json_body
from service.auth import require_scope
from service.errors import ApiError
from service.metrics import current as metrics

bp = Blueprint("events", __name__, url_prefix="/v1/events")
FIELDS = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)


@bp.post("")
@require_scope("events")
def ingest():
    """One event object, a list of them, or {"events": [...]}. All or nothing: one bad event rejects the batch."""
    batch = _as_batch(json_body())
    frame = pd.DataFrame(batch)
    mentioned = pd.to_numeric(frame.get("item_id", pd.Series(dtype=object)), errors="coerce").dropna()
    with current_app.extensions["tailorcard.db"].begin() as connection:
        known = repository.live_product_ids(connection, mentioned[(mentioned % 1 == 0) & (mentioned.abs() < 2**63)])
        log = validate_events(frame, known_items=known)
        if len(log.rejects):
            raise ApiError(400, "invalid_event", "; ".join(rejects_summary(log.rejects, limit=10)))
        accepted = repository.insert_events(connection, log.events)
    metrics().events.inc(accepted)
    return jsonify(accepted=accepted, duplicates=len(batch) - accepted), 202


def _as_batch(body) -> list[dict]:
    events = body.get("events", body) if isinstance(body, dict) and "events" in body else body
    events = [events] if isinstance(events, dict) else events
    limit = current_app.config["MAX_EVENTS_PER_REQUEST"]
    if not isinstance(events, list) or not events:
        raise ApiError(400, "invalid_event", "expected an event object, a non-empty list of them, or {\"events\": [...]}")
    if len(events) > limit:
        raise ApiError(413, "too_many_events", f"{len(events)} events in one request; the limit is {limit}")
    for row, event in enumerate(events, start=1):
        if not isinstance(event, dict):
            raise ApiError(400, "invalid_event", f"row {row}: expected an object; got {type(event).__name__}")
        unknown = sorted(set(event) - FIELDS)
        if unknown:
            raise ApiError(400, "invalid_event", f"row {row}: unknown field(s) {unknown}; expected {sorted(FIELDS)}")
    return events
