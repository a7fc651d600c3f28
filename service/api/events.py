"""Behaviour events in: the batch's shape is checked here; service.event_ingest validates the events as
features.events does and stores them (idempotent by event_id, durable before 202); its EventsRejected is a 400
invalid_event (service.errors)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from features.events import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from features.ids import echo
from service.api.params import json_body
from service.auth import require_scope
from service.errors import ApiError
from service.event_ingest import record_events

bp = Blueprint("events", __name__, url_prefix="/v1/events")
FIELDS = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)


@bp.post("")
@require_scope("events")
def ingest():
    """One event object, a list of them, or {"events": [...]}. All or nothing: one bad event rejects the batch."""
    accepted, duplicates = record_events(_as_batch(json_body()))
    return jsonify(accepted=accepted, duplicates=duplicates), 202


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
            raise ApiError(400, "invalid_event", f"row {row}: unknown field(s) {echo(unknown)}; "
                                                 f"expected {sorted(FIELDS)}")
    return events
