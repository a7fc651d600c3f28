"""The readiness use case: can this worker serve cards now (database reachable, its model built)?

    readiness()   # {"products": n, "skipped_events": m}; raises whatever stopped it
"""
from __future__ import annotations

import sqlalchemy as sa

from service.deps import deps


def readiness() -> dict:
    """Also builds this worker's model, so a load balancer's first probe warms it up."""
    with deps().db.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    live = deps().live.get()
    return {"products": len(live.products), "skipped_events": len(live.skipped_events)}
