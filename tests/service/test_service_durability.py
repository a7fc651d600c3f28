"""Restart durability (a new app on the same database loses nothing) and the background job worker."""
from __future__ import annotations

import io
import time

import sqlalchemy as sa
from service_helpers import FakeVariantStore, auth, make_app, shopper_wanting_variants
from PIL import Image

from service.db import jobs

STOREFRONT, ADMIN = auth("storefront"), auth("admin")


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 40), (10, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_restart_keeps_events_vectors_products_and_jobs(database_url, tiny_encoder):
    first = make_app(database_url, tiny_encoder)
    client = first.test_client()
    user, _ = shopper_wanting_variants(first, 1)
    item = client.get(f"/v1/users/{user}/cards?n=1", headers=STOREFRONT).json["cards"][0]["product"]["id"]
    client.post("/v1/events", headers=STOREFRONT, json=[
        {"event_id": f"r-{i}", "user_id": "returning", "item_id": item, "type": "like", "timestamp": 1.9e9 + i}
        for i in range(3)])
    client.put("/v1/items/9001", headers=ADMIN, content_type="multipart/form-data",
               data={"title": "Made before the restart", "image": (io.BytesIO(photo()), "p.jpg")})
    before = client.get("/v1/users/returning/cards?n=8", headers=STOREFRONT).json
    queued = first.extensions["tailorcard"].jobs.depth()
    first.extensions["tailorcard"].db.dispose()  # the old app is gone

    second = make_app(database_url, tiny_encoder, VARIANT_STORE=FakeVariantStore())
    again = second.test_client()
    assert again.get("/v1/items/9001", headers=ADMIN).json["title"] == "Made before the restart"
    assert again.post("/v1/events", headers=STOREFRONT, json={
        "event_id": "r-0", "user_id": "returning", "item_id": item, "type": "like", "timestamp": 1.9e9}).json == \
        {"accepted": 0, "duplicates": 1}
    second.extensions["tailorcard"].db.dispose()
    third = make_app(database_url, tiny_encoder, VARIANT_STORE=FakeVariantStore())
    with third.app_context():
        with third.extensions["tailorcard"].db.begin() as connection:
            connection.execute(sa.delete(sa.table("card_cache")))  # rebuild from events and vectors, not the cache
    after = third.test_client().get("/v1/users/returning/cards?n=8", headers=STOREFRONT).json
    assert [c["product"]["id"] for c in after["cards"]] == [c["product"]["id"] for c in before["cards"]]
    assert [c["score"] for c in after["cards"]] == [c["score"] for c in before["cards"]]
    assert third.extensions["tailorcard"].jobs.depth() == queued > 0


def test_a_job_interrupted_by_a_crash_runs_after_the_restart(database_url, tiny_encoder):
    app = make_app(database_url, tiny_encoder)
    user, _ = shopper_wanting_variants(app, 1)
    app.test_client().get(f"/v1/users/{user}/cards?n=1", headers=STOREFRONT)
    queue = app.extensions["tailorcard"].jobs
    job = queue.claim()  # the worker took it ... and the process died
    with app.extensions["tailorcard"].db.begin() as connection:
        connection.execute(jobs.update().where(jobs.c.id == job["id"]).values(updated_at=time.time() - 3600))
    restarted = make_app(database_url, tiny_encoder, JOB_LEASE_SECONDS=60)
    assert restarted.extensions["tailorcard"].jobs.status(job["key"])["status"] == "queued"
    assert restarted.extensions["tailorcard"].jobs.run_pending() == 2  # the card's scene and its photo at card size
    assert restarted.extensions["tailorcard"].jobs.status(job["key"])["status"] == "done"


def test_the_in_process_worker_generates_in_the_background(database_url, tiny_encoder):
    store = FakeVariantStore()
    app = make_app(database_url, tiny_encoder, JOB_QUEUE="thread", JOB_POLL_SECONDS=0.05, VARIANT_STORE=store)
    try:
        user, wanting = shopper_wanting_variants(app, 2)
        first = app.test_client().get(f"/v1/users/{user}/cards?n=2", headers=STOREFRONT).json["cards"]
        assert all(card["variant"] is None for card in first)
        deadline = time.monotonic() + 20
        while store.generated < 2 * wanting and time.monotonic() < deadline:  # each card: a scene, a card-size photo
            time.sleep(0.05)
        cards = app.test_client().get(f"/v1/users/{user}/cards?n=2", headers=STOREFRONT).json["cards"]
        assert sum(bool(card["variant"] and card["variant"]["ai_generated"]) for card in cards) == wanting
    finally:
        app.extensions["tailorcard"].worker.stop()


def test_a_failing_job_is_retried_then_marked_failed(database_url, tiny_encoder):
    class Broken(FakeVariantStore):
        def generate(self, request):
            raise RuntimeError("generator crashed")

    app = make_app(database_url, tiny_encoder, VARIANT_STORE=Broken())
    user, _ = shopper_wanting_variants(app, 1)
    app.test_client().get(f"/v1/users/{user}/cards?n=1", headers=STOREFRONT)
    queue = app.extensions["tailorcard"].jobs
    assert queue.run_pending() == 2 * 3  # the card's two images (scene, photo at card size), MAX_ATTEMPTS each
    with app.extensions["tailorcard"].db.connect() as connection:
        rows = connection.execute(sa.select(jobs.c.status, jobs.c.attempts, jobs.c.error)).all()
    assert len(rows) == 2
    assert all((status, attempts) == ("failed", 3) and "generator crashed" in error for status, attempts, error in rows)
