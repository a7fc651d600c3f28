"""Cards (ranking, cache, variants without waiting) and events (validation, idempotency, online taste)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import sqlalchemy as sa
from service_helpers import (N_SHOPPERS, ORIGINALS_ONLY, auth, make_app, shopper_wanting_variants, start_experiment,
                             stored_experiment_rows)

from service import experiments_db

STOREFRONT = auth("storefront")
PHOTO_ARMS = [{"name": "photo", "weight": 1, "image_policy": "original"},
              {"name": "variant", "weight": 1, "image_policy": "variant"}]


def cards(client, user_id, n=12):
    response = client.get(f"/v1/users/{user_id}/cards?n={n}", headers=STOREFRONT)
    assert response.status_code == 200, response.json
    return response.json


def event(event_id, user_id, item_id, kind="click", timestamp=None):
    return {"event_id": event_id, "user_id": user_id, "item_id": item_id, "type": kind,
            "timestamp": timestamp or time.time()}


def product_ids(client):
    return [c["product"]["id"] for c in cards(client, "someone-new", n=40)["cards"]]


def test_cards_have_products_scores_explanations_and_original_photos(client):
    user = client.get("/v1/users?limit=1", headers=STOREFRONT).json["users"][0]
    assert user["simulated"] is True
    body = cards(client, user["user_id"], n=5)
    assert len(body["cards"]) == 5 and body["experiment"] is None and body["segment"] in (0, 1)
    first = body["cards"][0]
    assert first["rank"] == 1 and {"id", "title", "attributes"} <= set(first["product"])
    assert first["image_url"] == f"/v1/items/{first['product']['id']}/image?size=card" and first["variant"] is None
    assert any("item_id" in reason and "title" in reason for reason in first["explanation"])
    scores = [c["score"] for c in body["cards"]]
    assert scores[0] == max(scores)


@pytest.mark.parametrize("query, field", [("n=0", "n"), ("n=101", "n"), ("n=ten", "n")])
def test_bad_card_parameters(client, query, field):
    response = client.get(f"/v1/users/u1/cards?{query}", headers=STOREFRONT)
    assert response.status_code == 400 and response.json["message"].startswith(f"{field}:")


def test_bad_user_id(client):
    response = client.get("/v1/users/a%20b/cards", headers=STOREFRONT)
    assert response.status_code == 400 and "user id" in response.json["message"]


def test_a_scene_is_queued_only_once_in_demand_and_the_photo_at_card_size_at_once(database_url, tiny_encoder):
    app = make_app(database_url, tiny_encoder, VARIANT_MIN_DEMAND=2)
    client, queue = app.test_client(), app.extensions["tailorcard"].jobs
    user, wanting = shopper_wanting_variants(app, 3)
    cards(client, user, n=3)
    assert queue.depth() == wanting  # each product's photo at card size (one for every shopper): at once
    cards(client, user, n=3)
    assert queue.depth() == 2 * wanting  # now each (product, segment) scene is in demand
    cards(client, user, n=3)
    assert queue.depth() == 2 * wanting  # queued once


def test_a_scene_is_painted_for_the_shoppers_segment_centroid(app, client):
    user, wanting = shopper_wanting_variants(app, 3)
    body = cards(client, user, n=3)
    app.extensions["tailorcard"].jobs.run_pending()
    requests = app.config["VARIANT_STORE"].requests
    scenes = [r for r in requests if r.policy.kind == "scene"]
    assert len(scenes) == wanting and len(requests) == 2 * wanting
    with app.app_context():
        centroid = app.extensions["tailorcard"].live.get().segment_centroid(body["segment"])
    for request in scenes:
        assert request.segment == str(body["segment"]) and np.allclose(request.condition, centroid)
    assert all(r.segment == "all" and r.condition is None for r in requests if r.policy.kind == "upscaled")


def unread(variant_id):
    raise AssertionError(f"variant {variant_id} was read: a cached copy needs no bytes")


def test_cards_never_wait_for_variants_and_show_them_when_ready(app, client, monkeypatch):
    user, wanting = shopper_wanting_variants(app, 3)
    body = cards(client, user, n=3)
    assert all(c["variant"] is None for c in body["cards"])
    queue = app.extensions["tailorcard"].jobs
    assert queue.depth() == 2 * wanting  # per card a scene and the photo at card size, queued, not run
    assert queue.run_pending() == 2 * wanting
    ready = next(c for c in cards(client, user, n=3)["cards"] if c["variant"])
    assert ready["variant"]["ai_generated"] is True and ready["image_url"] == f"/v1/variants/{ready['variant']['id']}"
    assert ready["variant"]["segment"] == str(body["segment"])  # the scene, planned first
    image = client.get(ready["image_url"])
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    assert image.headers["X-AI-Generated"] == "true" and "immutable" in image.headers["Cache-Control"]
    monkeypatch.setattr(app.extensions["tailorcard"].variants, "read_bytes", unread)
    assert client.get(ready["image_url"], headers={"If-None-Match": image.headers["ETag"]}).status_code == 304
    provenance = client.get(ready["variant"]["provenance_url"]).json
    assert provenance["provenance"]["source_product_hash"] and provenance["product_id"] == ready["product"]["id"]


@pytest.mark.parametrize("variant_id", ["..%2F..%2Fetc%2Fpasswd", "short", "a" * 200, "abc.def.ghijk"])
def test_variant_ids_cannot_escape_the_store(client, variant_id):
    response = client.get(f"/v1/variants/{variant_id}")
    assert response.status_code == 404 and response.json["error"] == "not_found"


def test_one_event_and_a_batch_are_stored_idempotently(client):
    item = product_ids(client)[0]
    one = client.post("/v1/events", json=event("e-1", "shopper-a", item), headers=STOREFRONT)
    assert one.status_code == 202 and one.json == {"accepted": 1, "duplicates": 0}
    batch = [event("e-1", "shopper-a", item), event("e-2", "shopper-a", item, "view"),
             event("e-2", "shopper-a", item, "view")]
    again = client.post("/v1/events", json={"events": batch}, headers=STOREFRONT)
    assert again.status_code == 202 and again.json == {"accepted": 1, "duplicates": 2}


@pytest.mark.parametrize("change, message", [
    ({"type": "teleport"}, "type: unknown type"),
    ({"user_id": ""}, "user_id: missing user_id"),
    ({"timestamp": "yesterday-ish"}, "timestamp: unparseable timestamp"),
    ({"item_id": 999999999}, "item_id: unknown item"),
    ({"colour": "red"}, "unknown field(s) ['colour']"),
])
def test_a_bad_event_rejects_the_batch_and_stores_nothing(client, change, message):
    item = product_ids(client)[0]
    good, bad = event("good-1", "shopper-b", item), {**event("bad-1", "shopper-b", item), **change}
    response = client.post("/v1/events", json=[good, bad], headers=STOREFRONT)
    assert response.status_code == 400 and response.json["error"] == "invalid_event"
    assert message in response.json["message"] and "row 2" in response.json["message"]
    assert client.post("/v1/events", json=good, headers=STOREFRONT).json["accepted"] == 1  # good-1 was not stored


def test_event_body_shapes(app, client):
    assert client.post("/v1/events", data="[", content_type="application/json", headers=STOREFRONT).status_code == 400
    assert client.post("/v1/events", data="x", content_type="text/plain", headers=STOREFRONT).status_code == 415
    assert client.post("/v1/events", json=[], headers=STOREFRONT).status_code == 400
    too_many = [event(f"m-{i}", "u", 1) for i in range(app.config["MAX_EVENTS_PER_REQUEST"] + 1)]
    assert client.post("/v1/events", json=too_many, headers=STOREFRONT).json["error"] == "too_many_events"


def test_events_move_the_shoppers_next_cards(client):
    """A new shopper starts on popular products; after clicks, the clicked product explains the cards."""
    before = cards(client, "fresh-shopper", n=5)["cards"]
    assert any("cold_start" in reason for reason in before[0]["explanation"])
    liked = product_ids(client)[-1]
    now = time.time()
    events = [event(f"f-{i}", "fresh-shopper", liked, kind, now + i) for i, kind in
              enumerate(["view", "click", "add_to_cart", "like"])]
    assert client.post("/v1/events", json=events, headers=STOREFRONT).status_code == 202
    after = cards(client, "fresh-shopper", n=5)["cards"]
    assert [c["score"] for c in after] != [c["score"] for c in before]
    assert [r["item_id"] for r in after[0]["explanation"] if "item_id" in r] == [liked]


def test_the_photo_arm_shows_the_photo_at_card_size_and_the_variant_arm_scenes(app, client):
    start_experiment(client, "photos-or-scenes", PHOTO_ARMS)
    users = [f"u{i}" for i in range(N_SHOPPERS)]
    for user in users:  # every image is asked for
        cards(client, user, n=3)
    app.extensions["tailorcard"].jobs.run_pending()
    shown = {"photo": set(), "variant": set()}
    for user in users:
        for card in cards(client, user, n=3)["cards"]:
            assert card["variant"] is not None  # every image was made: none is the small upload any more
            shown[card["experiment"]["arm"]].add((card["variant"]["ai_generated"], card["variant"]["segment"]))
    assert {ai for ai, _ in shown["photo"]} == {False} and {segment for _, segment in shown["photo"]} == {"all"}
    assert {ai for ai, _ in shown["variant"]} == {True}


def test_a_cards_request_stores_its_assignment_and_exposures_in_one_transaction(app, client):
    cards(client, "newcomer", n=3)  # ranked and cached before the start: the request below only serves
    start_experiment(client, "frames", ORIGINALS_ONLY)
    commits = []
    sa.event.listen(app.extensions["tailorcard"].db, "commit", commits.append)
    arm = cards(client, "newcomer", n=3)["experiment"]["arm"]
    assert len(commits) == 1
    assert stored_experiment_rows(app, "newcomer") == ([arm], [(arm, 1), (arm, 2), (arm, 3)])


def test_exposures_that_fail_to_store_leave_no_assignment_behind(app, client, monkeypatch):
    start_experiment(client, "frames", ORIGINALS_ONLY)

    def failing(connection, rows):
        raise sa.exc.OperationalError("INSERT INTO experiment_exposures", {}, Exception("disk I/O error"))

    monkeypatch.setattr(experiments_db, "add_exposures", failing)
    assert client.get("/v1/users/newcomer/cards?n=2", headers=STOREFRONT).status_code == 500
    assert stored_experiment_rows(app, "newcomer") == ([], [])
    monkeypatch.undo()
    arm = cards(client, "newcomer", n=2)["experiment"]["arm"]
    assert cards(client, "newcomer", n=2)["experiment"]["arm"] == arm  # sticky: one assignment, both visits
    assert stored_experiment_rows(app, "newcomer") == ([arm], [(arm, 1), (arm, 2)] * 2)
