"""Rounds of scenes: the winners of one round steer what a segment's next round is painted for."""
import io

import numpy as np
from PIL import Image
from service_helpers import auth, shopper_wanting_variants

from imagegen.presentation import PresentationPolicy
from imagegen.presentation.steering import fitted_direction, gain_noise, next_condition, rewarded_direction
from service.generation import request_variant

ANALYST, STOREFRONT = auth("analyst"), auth("storefront")


def made_scenes(app, client):
    """A shopper's segment and the scene variant ids their cards show once the jobs ran."""
    user, _ = shopper_wanting_variants(app, 3)
    segment = client.get(f"/v1/users/{user}/cards?n=3", headers=STOREFRONT).json["segment"]
    app.extensions["tailorcard"].jobs.run_pending()
    cards = client.get(f"/v1/users/{user}/cards?n=3", headers=STOREFRONT).json["cards"]
    return segment, [c["variant"]["id"] for c in cards if c["variant"] and c["variant"]["ai_generated"]]


def test_winners_steer_the_next_round_and_its_scenes_carry_the_lineage(app, client):
    segment, scenes = made_scenes(app, client)
    started = client.post(f"/v1/segments/{segment}/rounds", json={"winners": scenes[:2], "step": 0.5}, headers=ANALYST)
    assert started.status_code == 201, started.json
    assert started.json == {"segment": segment, "round": 1, "parent_round": 0, "winners": scenes[:2], "step": 0.5}
    rounds = client.get(f"/v1/segments/{segment}/rounds", headers=ANALYST).json["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]
    store = app.config["VARIANT_STORE"]
    product = store.get(scenes[0]).product_id
    with app.app_context():
        live = app.extensions["tailorcard"].live.get()
        centroid = live.segment_centroid(segment)
        content_hash = live.products[product]["content_hash"]
        request_variant(product, content_hash, str(segment), PresentationPolicy("scene", round=1), wanted=True)
    app.extensions["tailorcard"].jobs.run_pending()
    steered = store.requests[-1]
    assert steered.policy.round == 1 and steered.lineage["parent_round"] == 0 and steered.lineage["winners"] == scenes[:2]
    assert np.isclose(np.linalg.norm(steered.condition), 1.0) and not np.allclose(steered.condition, centroid)
    again = client.post(f"/v1/segments/{segment}/rounds", json={"winners": scenes[:1]}, headers=ANALYST)
    assert again.status_code == 409 and again.json["error"] == "round_exists"
    assert "already has round 1" in again.json["message"]


def test_a_round_needs_scenes_of_its_own_segment(app, client):
    segment, scenes = made_scenes(app, client)
    other = client.post(f"/v1/segments/{segment + 1}/rounds", json={"winners": scenes[:1]}, headers=ANALYST)
    assert other.status_code == 400 and f"not a scene of segment {segment + 1}" in other.json["message"]
    missing = client.post(f"/v1/segments/{segment}/rounds", json={"winners": ["0" * 32]}, headers=ANALYST)
    assert missing.status_code == 404
    bad = client.post(f"/v1/segments/{segment}/rounds", json={"winners": scenes[:1], "step": 2}, headers=ANALYST)
    assert bad.status_code == 400 and "step" in bad.json["message"]
    assert client.post(f"/v1/segments/{segment}/rounds", json={"winners": scenes[:1]},
                       headers=STOREFRONT).status_code == 403


def test_the_next_rounds_styles_start_with_the_style_that_won_and_arms_by_round_style_follow_it(app, client,
                                                                                                tiny_encoder):
    store = app.config["VARIANT_STORE"]
    rng = np.random.default_rng(0)
    store.centres = rng.normal(size=(8, tiny_encoder.embed_dim)).astype(np.float32)
    segment, scenes = made_scenes(app, client)
    products = [store.get(scene).product_id for scene in scenes]
    with app.app_context():
        live = app.extensions["tailorcard"].live.get()
        for product in products:  # round 0's third style, as an arm {"round_style": 2} paints it
            request_variant(product, live.products[product]["content_hash"], str(segment),
                            PresentationPolicy("scene", round_style=2), wanted=True)
    app.extensions["tailorcard"].jobs.run_pending()
    winners = [store.lookup(product, live.products[product]["content_hash"], str(segment),
                            PresentationPolicy("scene", round_style=2)).variant_id for product in products]
    started = client.post(f"/v1/segments/{segment}/rounds", json={"winners": winners, "step": 1.0},
                          headers=ANALYST)
    assert started.status_code == 201, started.json
    styles = started.json["styles"]
    assert styles[0] == 2 and sorted(styles) == list(range(8))  # the winners' style first, every style once
    assert client.get(f"/v1/segments/{segment}/rounds", headers=ANALYST).json["rounds"][1]["styles"] == styles
    with app.app_context():
        request_variant(products[0], live.products[products[0]]["content_hash"], str(segment),
                        PresentationPolicy("scene", round=1, round_style=1), wanted=True)
    app.extensions["tailorcard"].jobs.run_pending()
    asked = store.requests[-1]
    assert asked.lineage["styles"] == styles and asked.policy.painted_style(asked.lineage) == styles[1]


def test_losers_take_what_every_scene_added_out_of_the_steer_and_are_checked_like_winners(app, client):
    segment, scenes = made_scenes(app, client)
    assert len(scenes) >= 3, "the seeded shopper's cards show fewer than 3 scenes; the seeding changed"
    body = {"winners": scenes[:1], "losers": scenes[1:3], "step": 1.0}
    both = client.post(f"/v1/segments/{segment}/rounds", json={**body, "losers": scenes[:2]}, headers=ANALYST)
    assert both.status_code == 400 and "not among the winners" in both.json["message"]
    other = client.post(f"/v1/segments/{segment + 1}/rounds", json=body, headers=ANALYST)
    assert other.status_code == 400 and "not a scene of segment" in other.json["message"]
    started = client.post(f"/v1/segments/{segment}/rounds", json=body, headers=ANALYST)
    assert started.status_code == 201 and started.json["losers"] == scenes[1:3]
    store = app.config["VARIANT_STORE"]
    with app.app_context():
        from service.scene_rounds import condition_of
        stored, _ = condition_of(segment, 1)
        live = app.extensions["tailorcard"].live.get()
        centroid = live.segment_centroid(segment)
        encoder = app.extensions["tailorcard"].encoder.get()
        photos = {key: product for key, product in live.products.items()}

    def embedded(ids):
        scenes = encoder.encode_images([Image.open(io.BytesIO(store.images[i])) for i in ids])
        own = encoder.encode_images([Image.open(io.BytesIO(client.get(
            f"/v1/items/{photos[store.get(i).product_id]['id']}/image", headers=STOREFRONT).data)) for i in ids])
        return scenes, own

    contrast = rewarded_direction(*embedded(scenes[:1]), *embedded(scenes[1:3]))
    alone = rewarded_direction(*embedded(scenes[:1]))
    assert np.allclose(stored, next_condition(centroid, contrast, 1.0), atol=1e-4)
    assert not np.allclose(stored, next_condition(centroid, alone, 1.0), atol=1e-3)


def scene_embeddings(app, client, ids):
    """CLIP embeddings of the scenes and of their products' own photos, as the service reads them."""
    store = app.config["VARIANT_STORE"]
    with app.app_context():
        live = app.extensions["tailorcard"].live.get()
        encoder = app.extensions["tailorcard"].encoder.get()
    scenes = encoder.encode_images([Image.open(io.BytesIO(store.images[i])) for i in ids])
    own = encoder.encode_images([Image.open(io.BytesIO(client.get(
        f"/v1/items/{live.products[store.get(i).product_id]['id']}/image", headers=STOREFRONT).data)) for i in ids])
    return scenes, own


def test_every_arms_click_rate_fits_the_next_round_which_paints_what_the_fit_says(app, client):
    segment, scenes = made_scenes(app, client)
    arms = [{"scenes": scenes[:1], "ctr": 0.07, "exposures": 900},
            {"scenes": scenes[1:3], "ctr": 0.04, "exposures": 300}]
    started = client.post(f"/v1/segments/{segment}/rounds", json={"arms": arms, "control_ctr": 0.05}, headers=ANALYST)
    assert started.status_code == 201, started.json
    assert started.json["aim"] == "added" and started.json["parent_round"] == 0 and started.json["round"] == 1
    assert started.json["arms"] == arms and started.json["control_ctr"] == 0.05
    added = np.stack([rewarded_direction(*scene_embeddings(app, client, arm["scenes"])) for arm in arms])
    with app.app_context():
        from service.scene_rounds import condition_of
        stored, lineage = condition_of(segment, 1)
    assert np.allclose(stored, fitted_direction(added, [0.02, -0.01], [900, 300]), atol=1e-4)
    assert lineage["aim"] == "added"
    store = app.config["VARIANT_STORE"]
    product = store.get(scenes[0]).product_id
    with app.app_context():
        content_hash = app.extensions["tailorcard"].live.get().products[product]["content_hash"]
        request_variant(product, content_hash, str(segment), PresentationPolicy("scene", round=1), wanted=True)
    app.extensions["tailorcard"].jobs.run_pending()
    painted = store.requests[-1]  # the job hands the round's direction and its aim to the maker
    assert painted.policy.round == 1 and painted.lineage["aim"] == "added" and np.allclose(painted.condition, stored)


def test_scenes_clip_rows_kept_as_they_were_made_steer_without_reading_an_image(app, client):
    segment, scenes = made_scenes(app, client)
    store = app.config["VARIANT_STORE"]
    kept = np.random.default_rng(3).normal(size=(2, 2, store_dim(app))).astype(np.float32)
    store.embedded = {scenes[0]: kept[0], scenes[1]: kept[1]}
    arms = [{"scenes": scenes[:1], "ctr": 0.07, "exposures": 900},
            {"scenes": scenes[1:2], "ctr": 0.04, "exposures": 300}]
    reads = store.reads
    started = client.post(f"/v1/segments/{segment}/rounds", json={"arms": arms, "control_ctr": 0.05}, headers=ANALYST)
    assert started.status_code == 201, started.json
    assert store.reads == reads  # no scene image was read back, nor encoded, while the request waited
    added = np.stack([rewarded_direction(rows[:1], rows[1:]) for rows in kept])
    with app.app_context():
        from service.scene_rounds import condition_of
        stored, _ = condition_of(segment, 1)
    assert np.allclose(stored, fitted_direction(added, [0.02, -0.01], [900, 300]), atol=1e-5)


def test_a_scene_made_before_rows_were_kept_is_encoded_from_its_image_beside_those_kept(app, client):
    segment, scenes = made_scenes(app, client)
    store = app.config["VARIANT_STORE"]
    kept = np.random.default_rng(4).normal(size=(2, store_dim(app))).astype(np.float32)
    store.embedded = {scenes[0]: kept}  # scenes[1] has none
    started = client.post(f"/v1/segments/{segment}/rounds", json={"winners": scenes[:2], "step": 1.0},
                          headers=ANALYST)
    assert started.status_code == 201, started.json
    encoded_scene, encoded_photo = scene_embeddings(app, client, scenes[1:2])
    rewarded = rewarded_direction(np.stack([kept[0], encoded_scene[0]]), np.stack([kept[1], encoded_photo[0]]))
    with app.app_context():
        from service.scene_rounds import condition_of
        stored, _ = condition_of(segment, 1)
        centroid = app.extensions["tailorcard"].live.get().segment_centroid(segment)
    assert np.allclose(stored, next_condition(centroid, rewarded, 1.0), atol=1e-4)


def store_dim(app) -> int:
    with app.app_context():
        return app.extensions["tailorcard"].encoder.get().embed_dim


def test_a_round_fitted_by_intervals_weighs_each_gain_by_its_own_and_the_controls(app, client):
    segment, scenes = made_scenes(app, client)
    arms = [{"scenes": scenes[:1], "ctr": 0.07, "exposures": 900, "ctr_ci": [0.06, 0.08]},
            {"scenes": scenes[1:3], "ctr": 0.06, "exposures": 300, "ctr_ci": [0.04, 0.08]}]
    body = {"arms": arms, "control_ctr": 0.05, "control_ci": [0.045, 0.055]}  # every interval: "intervals" by default
    started = client.post(f"/v1/segments/{segment}/rounds", json=body, headers=ANALYST)
    assert started.status_code == 201, started.json
    assert started.json["fit"] == "intervals" and started.json["control_ci"] == [0.045, 0.055]
    assert started.json["arms"] == arms  # their intervals kept in the lineage
    added = np.stack([rewarded_direction(*scene_embeddings(app, client, arm["scenes"])) for arm in arms])
    with app.app_context():
        from service.scene_rounds import condition_of
        stored, _ = condition_of(segment, 1)
    noise = gain_noise(np.array([0.01, 0.02]) / 1.959964, 0.005 / 1.959964)  # half-widths over z(0.95)
    assert np.allclose(stored, fitted_direction(added, [0.02, 0.01], noise=noise), atol=1e-4)
    assert not np.allclose(stored, fitted_direction(added, [0.02, 0.01], [900, 300]), atol=1e-3)


def test_a_round_fitted_between_arms_reads_only_how_the_arms_differ(app, client):
    segment, scenes = made_scenes(app, client)
    arms = [{"scenes": scenes[:1], "ctr": 0.07, "exposures": 900},
            {"scenes": scenes[1:3], "ctr": 0.04, "exposures": 300}]
    body = {"arms": arms, "control_ctr": 0.05, "fit": "between-arms"}
    started = client.post(f"/v1/segments/{segment}/rounds", json=body, headers=ANALYST)
    assert started.status_code == 201, started.json
    assert started.json["fit"] == "between-arms"
    added = np.stack([rewarded_direction(*scene_embeddings(app, client, arm["scenes"])) for arm in arms])
    with app.app_context():
        from service.scene_rounds import condition_of
        stored, _ = condition_of(segment, 1)
    assert np.allclose(stored, fitted_direction(added, [0.02, -0.01], [900, 300], between_arms=True), atol=1e-4)
    assert not np.allclose(stored, fitted_direction(added, [0.02, -0.01], [900, 300]), atol=1e-3)


def test_a_fitted_round_says_what_is_wrong_with_its_body(app, client):
    segment, scenes = made_scenes(app, client)
    url, arm = f"/v1/segments/{segment}/rounds", {"scenes": scenes[:1], "ctr": 0.06, "exposures": 10}
    cases = [({"arms": [arm]}, "body"), ({"arms": [], "control_ctr": 0.05}, "arms"),
             ({"arms": [{**arm, "ctr": 1.5}], "control_ctr": 0.05}, "arms[0].ctr"),
             ({"arms": [{**arm, "exposures": 0}], "control_ctr": 0.05}, "arms[0].exposures"),
             ({"arms": [{"scenes": scenes[:1]}], "control_ctr": 0.05}, "arms[0]"),
             ({"arms": [arm, arm], "control_ctr": 0.05}, "each scene in one arm only"),
             ({"arms": [arm], "control_ctr": "high"}, "control_ctr"),
             ({"arms": [arm], "control_ctr": 0.05, "step": 1}, "nothing else"),
             ({"arms": [arm], "control_ctr": 0.05, "fit": "halved"}, "fit"),
             ({"arms": [arm], "control_ctr": 0.05, "fit": "between-arms"}, "two scene arms at least"),
             ({"arms": [arm], "control_ctr": 0.05, "control_ci": [0.04, 0.06], "fit": "intervals"},
              'each arm\'s "ctr_ci"'),
             ({"arms": [{**arm, "ctr_ci": [0.07, 0.05]}], "control_ctr": 0.05}, "arms[0].ctr_ci"),
             ({"arms": [arm], "control_ctr": 0.05, "control_ci": [0.04]}, "control_ci")]
    for body, named in cases:
        answer = client.post(url, json=body, headers=ANALYST)
        assert answer.status_code == 400 and named in answer.json["message"], (body, answer.json)
        assert answer.json["error"] == ("too_few_arms" if body.get("fit") == "between-arms" else "bad_request")
    same = client.post(url, json={"arms": [arm], "control_ctr": 0.06}, headers=ANALYST)
    assert same.status_code == 400 and "fit no direction" in same.json["message"]  # it earned what the control did
    missing = client.post(url, json={"arms": [{**arm, "scenes": ["0" * 32]}], "control_ctr": 0.05}, headers=ANALYST)
    assert missing.status_code == 404
    assert client.get(f"/v1/segments/{segment}/rounds", headers=ANALYST).json["rounds"] == [
        {"round": 0, "condition": "the segment's centroid"}]  # nothing was stored by the refused bodies
