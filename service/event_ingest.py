"""The events use case: a batch of behaviour events, as the events endpoint takes it.

    record_events([{"event_id": "e1", "user_id": "u42", "item_id": "APL-001", "type": "view", ...}])  # (1, 0)

Each event is checked as features.events checks a file, against the live products; all or nothing: one bad
event rejects the batch (EventsRejected), and nothing is stored. Idempotent by event_id: an event sent again
counts as a duplicate. Stored (durable) before the call returns.
"""
from __future__ import annotations

import pandas as pd

from features.events import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, EventError, item_keys, rejects_summary, validate_events
from service import repository
from service.deps import deps


class EventsRejected(EventError):
    """Some events of a batch are invalid, so none is stored; the message names up to ten of them."""


def record_events(rows: list[dict]) -> tuple[int, int]:
    """(accepted, duplicates) of a non-empty batch of event objects whose fields are all known, as sent."""
    frame = pd.DataFrame(rows, dtype=object)  # as sent: true stays a boolean, which is not an id
    # a field left out is empty, whether or not another event of the batch has it (features.events says when
    # that is fine: no user_id with a session_id, no item_id with a query)
    frame = frame.reindex(columns=[*REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in frame)])
    mentioned = item_keys(frame["item_id"]).dropna() if "item_id" in frame else []
    with deps().db.begin() as connection:  # the products are checked in the transaction that stores the events
        known = repository.live_product_ids(connection, [int(key) for key in mentioned])
        log = validate_events(frame, known_items=known)
        if len(log.rejects):
            raise EventsRejected("; ".join(rejects_summary(log.rejects, limit=10)))
        accepted = repository.insert_events(connection, log.events)
    deps().metrics.events.inc(accepted)
    return accepted, len(rows) - accepted
