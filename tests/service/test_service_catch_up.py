"""Catching up on new events rebuilds only their shoppers, from those shoppers' events: the tastes a
restart gives them, without reading the whole event log inside a cards request."""
from __future__ import annotations

import time

import numpy as np
import sqlalchemy as sa
from service_helpers import auth, make_app

from service import repository
from service.db import events as events_table

STOREFRONT = auth("storefront")


def cards(client, user_id, n=8) -> dict:
    response = client.get(f"/v1/users/{user_id}/cards?n={n}", headers=STOREFRONT)
    assert response.status_code == 200, response.json
    return response.json


def burst(shoppers, items, n: int) -> list[dict]:
    """n events over the shoppers: clicks, purchases, dislikes, searches; some older than what came before."""
    rng, now = np.random.default_rng(0), time.time()
    kinds = ["view", "click", "purchase", "dislike", "like"]
    out = []
    for i in range(n):
        event = {"event_id": f"burst-{i}", "user_id": shoppers[i % len(shoppers)], "type": kinds[i % len(kinds)],
                 "timestamp": now - float(rng.random()) * 90 * 86_400, "item_id": int(rng.choice(items))}
        out.append({**event, "item_id": None, "query": "red shoes"} if i % 25 == 0 else event)
    return out


def rows_read_by(monkeypatch, names) -> list[int]:
    """Counts the event rows each of these repository reads returns."""
    read = []

    def counting(read_events):
        def wrapper(*args, **kwargs):
            frame = read_events(*args, **kwargs)
            read.append(len(frame))
            return frame
        return wrapper
    for name in names:
        monkeypatch.setattr(repository, name, counting(getattr(repository, name)))
    return read


def test_a_burst_of_events_reads_only_its_shoppers_events_and_ranks_as_after_a_restart(
        app, client, database_url, tiny_encoder, monkeypatch):
    seeded = client.get("/v1/users?limit=1", headers=STOREFRONT).json["users"][0]["user_id"]
    shoppers = [seeded, "burst-a", "burst-b"]
    items = [card["product"]["id"] for card in cards(client, "nobody", n=40)["cards"]]  # the live model is loaded
    read = rows_read_by(monkeypatch, ["events_after", "events_of_users"])
    posted = burst(shoppers, items, 240)  # past the old full-rebuild threshold (200)
    assert client.post("/v1/events", json=posted, headers=STOREFRONT).json == {"accepted": 240, "duplicates": 0}

    served = {user: cards(client, user) for user in shoppers}

    with app.extensions["tailorcard"].db.connect() as connection:
        in_log = connection.execute(sa.select(sa.func.count()).select_from(events_table)).scalar()
        theirs = connection.execute(sa.select(sa.func.count()).where(events_table.c.user_id.in_(shoppers))).scalar()
    assert sum(read) == len(posted) + theirs < in_log  # the pending events, then their shoppers' events: no more
    restarted = make_app(database_url, tiny_encoder)
    with restarted.extensions["tailorcard"].db.begin() as connection:
        connection.execute(sa.delete(sa.table("card_cache")))  # ranked anew from events, not read from the cache
    assert {user: cards(restarted.test_client(), user) for user in shoppers} == served
    live, fresh = app.extensions["tailorcard"].live.get(), restarted.extensions["tailorcard"].live.get()
    caught_up, rebuilt = live.recommender.preferences, fresh.recommender.preferences
    np.testing.assert_allclose(caught_up.decayed_sums(shoppers), rebuilt.decayed_sums(shoppers), rtol=1e-9, atol=1e-12)
    assert [caught_up.event_count(u) for u in shoppers] == [rebuilt.event_count(u) for u in shoppers]
