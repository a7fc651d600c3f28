"""Cards (ranking, cache, variants without waiting) and events (validation, idempotency, online taste)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import sqlalchemy as sa
from features.colour_taste import COLOUR_EXAMPLES
from features.type_taste import taste_in_colour
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
    assert first["image_url"] == f"/v1/items/{first['product']['id']}/image" and first["variant"] is None
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


def test_a_variant_is_queued_only_once_its_pair_is_in_demand(database_url, tiny_encoder):
    app = make_app(database_url, tiny_encoder, VARIANT_MIN_DEMAND=2)
    client, queue = app.test_client(), app.extensions["tailorcard.jobs"]
    user, wanting = shopper_wanting_variants(app, 3)
    cards(client, user, n=3)
    assert queue.depth() == 0  # each (product, segment) wanted once: originals, no generation yet
    cards(client, user, n=3)
    assert queue.depth() == wanting
    cards(client, user, n=3)
    assert queue.depth() == wanting  # queued once


def test_cards_of_a_shopper_without_a_colour_want_no_variant(app, client):
    body = cards(client, "someone-new", n=5)
    assert body["colour"] is None and all(c["variant"] is None for c in body["cards"])
    assert app.extensions["tailorcard.jobs"].depth() == 0


def test_a_variant_is_drawn_toward_the_product_in_its_shoppers_colour(app, client):
    user, _ = shopper_wanting_variants(app, 3)
    body = cards(client, user, n=3)
    app.extensions["tailorcard.jobs"].run_pending()
    request = app.config["VARIANT_STORE"].requests[0]
    assert request.segment == body["colour"]
    with app.app_context():
        live = app.extensions["tailorcard.live"].get()
        ids = sorted(live.products)
        attributes = [live.products[i]["attributes"] for i in ids]
        vectors = live.recommender.index.vectors_of(ids)
        own = live.products[request.product_id]["attributes"]
        expected = taste_in_colour(vectors[ids.index(request.product_id)], own["articleType"], request.segment,
                                   [a["articleType"] for a in attributes], [a["baseColour"] for a in attributes],
                                   vectors)
    assert own["baseColour"] != request.segment and np.allclose(request.taste, expected)
    in_colour = [a for a in attributes if a["baseColour"] == request.segment]  # any type: what the colour looks like
    assert len(request.colour_photos) == min(len(in_colour), COLOUR_EXAMPLES) > 0


def unread(variant_id):
    raise AssertionError(f"variant {variant_id} was read: a cached copy needs no bytes")


def test_cards_never_wait_for_variants_and_show_them_when_ready(app, client, monkeypatch):
    user, wanting = shopper_wanting_variants(app, 3)
    body = cards(client, user, n=3)
    assert all(c["variant"] is None for c in body["cards"])
    queue = app.extensions["tailorcard.jobs"]
    assert queue.depth() == wanting  # one generation job per card that wants a variant, queued, not run
    assert queue.run_pending() == wanting
    ready = next(c for c in cards(client, user, n=3)["cards"] if c["variant"])
    assert ready["variant"]["ai_generated"] is True and ready["image_url"] == f"/v1/variants/{ready['variant']['id']}"
    image = client.get(ready["image_url"])
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    assert image.headers["X-AI-Generated"] == "true" and "immutable" in image.headers["Cache-Control"]
    monkeypatch.setattr(app.extensions["tailorcard.variants"], "read_bytes", unread)
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


def test_a_shoppers_colour_is_learned_from_their_events(app, client):
    with app.app_context():
        products = app.extensions["tailorcard.live"].get().products
        purple = [pid for pid, p in products.items() if p["attributes"]["baseColour"] == "Purple"]
    assert cards(client, "purple-fan", n=3)["colour"] is None
    now = time.time()
    events = [event(f"p-{i}", "purple-fan", pid, "click", now + i) for i, pid in enumerate(purple)]
    assert client.post("/v1/events", json=events, headers=STOREFRONT).status_code == 202
    assert len(purple) >= 2 and cards(client, "purple-fan", n=3)["colour"] == "Purple"


def test_shoppers_in_a_photo_arm_see_photos_and_create_no_variant_demand(app, client):
    start_experiment(client, "photos-or-variants", PHOTO_ARMS)
    jobs, asked = app.extensions["tailorcard.jobs"], {}
    for user in (f"u{i}" for i in range(N_SHOPPERS)):
        before = jobs.depth()
        body = cards(client, user, n=3)
        arm = body["cards"][0]["experiment"]["arm"]
        asked[arm] = asked.get(arm, 0) + jobs.depth() - before
        if arm == "photo":
            assert all(c["variant"] is None and c["image_url"].endswith("/image") for c in body["cards"])
    assert asked["photo"] == 0 and asked["variant"] > 0  # generation is asked for the variant arm only


def test_a_cards_request_stores_its_assignment_and_exposures_in_one_transaction(app, client):
    cards(client, "newcomer", n=3)  # ranked and cached before the start: the request below only serves
    start_experiment(client, "frames", ORIGINALS_ONLY)
    commits = []
    sa.event.listen(app.extensions["tailorcard.db"], "commit", commits.append)
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
