"""Behaviour events in: validated as features.events does, idempotent by event_id, durable before 202."""
from __future__ import annotations

import pandas as pd
from flask import Blueprint, current_app, jsonify

from features.events import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, item_keys, rejects_summary, validate_events
from features.ids import echo
from service import repository
from service.api.params import json_body
from service.auth import require_scope
from service.deps import deps
from service.errors import ApiError
from service.metrics import current as metrics

bp = Blueprint("events", __name__, url_prefix="/v1/events")
FIELDS = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)


@bp.post("")
@require_scope("events")
def ingest():
    """One event object, a list of them, or {"events": [...]}. All or nothing: one bad event rejects the batch."""
    batch = _as_batch(json_body())
    frame = pd.DataFrame(batch, dtype=object)  # as sent: true stays a boolean, which is not an id
    # a field left out is empty, whether or not another event of the batch has it (features.events says when
    # that is fine: no user_id with a session_id, no item_id with a query)
    frame = frame.reindex(columns=[*REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in frame)])
    mentioned = item_keys(frame["item_id"]).dropna() if "item_id" in frame else []
    with deps().db.begin() as connection:
        known = repository.live_product_ids(connection, [int(key) for key in mentioned])
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
            raise ApiError(400, "invalid_event", f"row {row}: unknown field(s) {echo(unknown)}; "
                                                 f"expected {sorted(FIELDS)}")
    return events
