"""The shoppers use case: who there is, for the demo storefront's picker.

    list_shoppers(20)   # [{"user_id", "events", "simulated"}], most active first
"""
from __future__ import annotations

from service import repository
from service.deps import deps


def list_shoppers(limit: int) -> list[dict]:
    """The `limit` shoppers with the most events, each marked when their behaviour is simulated."""
    with deps().db.connect() as connection:
        return repository.list_users(connection, limit)
