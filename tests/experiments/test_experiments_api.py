"""The experiments API: lifecycle, scopes, bad input, exposures, results as JSON and CSV, durability,
the cards endpoint's hooks, and a small SIMULATED experiment end to end over HTTP."""
import csv
import io
import time

import numpy as np
import pytest
import sqlalchemy as sa

from imagegen.presentation import SCENE, UPSCALED
from lab.ab_simulation import ApiClient, StudyConfig, run_experiment, seed_products
from service import experiments_db
from service.app import create_app
from service.experiments_store import DatabaseExperiments, arm_cards, arm_policy

KEYS = [{"name": "analyst", "key": "analyst-key", "scopes": ["experiments"]},
        {"name": "shop", "key": "shop-key", "scopes": ["cards", "events"]}]
ANALYST = {"Authorization": "Bearer analyst-key"}
SHOP = {"Authorization": "Bearer shop-key"}
DEFINITION = {"name": "photos-vs-variants", "hypothesis": "personalized variants lift CTR",
              "arms": [{"name": "photo", "weight": 1, "image_policy": "original"},
                       {"name": "variant", "weight": 1, "image_policy": "variant"}],
              "primary_metric": "ctr", "guardrails": ["conversion_rate"], "attribution_window_s": 3600}


def make_app(database: str):
    return create_app({"TESTING": True, "DATABASE_URL": database, "JOB_QUEUE": "none", "API_KEYS": KEYS,
                       "EXPERIMENTS": DatabaseExperiments(), "RATE_LIMIT_PER_SECOND": 1e6, "RATE_LIMIT_BURST": 10**6})


@pytest.fixture
def database(tmp_path):
    return f"sqlite:///{tmp_path / 'service.sqlite'}"


@pytest.fixture
def app(database):
    return make_app(database)


@pytest.fixture
def client(app):
    return app.test_client()


def started(client, definition=DEFINITION):
    assert client.post("/v1/experiments", json=definition, headers=ANALYST).status_code == 201
    response = client.post(f"/v1/experiments/{definition['name']}/start", headers=ANALYST)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def show(client, users, at=None):
    rows = [{"user_id": u, "item_id": 1, "position": 1, **({"timestamp": at} if at else {})} for u in users]
    response = client.post("/v1/exposures", json={"exposures": rows}, headers=SHOP)
    assert response.status_code == 202, response.get_json()
    return {user: arms[0]["arm"] if arms else None for user, arms in response.get_json()["assigned"].items()}


def test_lifecycle_create_list_start_reweight_stop(client):
    created = client.post("/v1/experiments", json=DEFINITION, headers=ANALYST)
    assert created.status_code == 201 and created.get_json()["status"] == "draft"
    assert [e["name"] for e in client.get("/v1/experiments", headers=ANALYST).get_json()["experiments"]] == [
        "photos-vs-variants"]
    running = client.post("/v1/experiments/photos-vs-variants/start", headers=ANALYST).get_json()
    assert running["status"] == "running" and running["layer_range"] == [0, 1000] and "bucket_arms" not in running
    reweighted = client.put("/v1/experiments/photos-vs-variants/weights", json={"weights": {"photo": 1, "variant": 3}},
                            headers=ANALYST).get_json()
    assert [a["weight"] for a in reweighted["arms"]] == [1, 3] and len(reweighted["weight_history"]) == 2
    stopped = client.post("/v1/experiments/photos-vs-variants/stop", headers=ANALYST).get_json()
    assert stopped["status"] == "stopped"
    assert client.post("/v1/experiments/photos-vs-variants/start", headers=ANALYST).status_code == 400


@pytest.mark.parametrize("method, url, body, status, words", [
    ("post", "/v1/experiments", {**DEFINITION, "arms": DEFINITION["arms"][:1]}, 400, "at least 2 arms"),
    ("post", "/v1/experiments", {**DEFINITION, "primary_metric": "revenue"}, 400, "'revenue'"),
    ("post", "/v1/experiments", {**DEFINITION, "colour": "red"}, 400, "unknown field(s) ['colour']"),
    ("post", "/v1/experiments", [1, 2], 400, "an experiment object"),
    ("get", "/v1/experiments/nope", None, 404, "no experiment named 'nope'"),
    ("post", "/v1/experiments/nope/start", None, 404, "no experiment named 'nope'"),
    ("put", "/v1/experiments/photos-vs-variants/weights", {"weights": {"photo": 1}}, 400, "name every arm"),
    ("put", "/v1/experiments/photos-vs-variants/weights", {"weights": {"photo": 1, "variant": -2}}, 400, "non-negative"),
    ("put", "/v1/experiments/photos-vs-variants/weights", {"photo": 1, "variant": 3}, 400,
     'expected an object {"weights": {arm name: weight, ...}}'),  # the weights without their wrapper
    ("get", "/v1/experiments/photos-vs-variants/results?detail=all", None, 400, "detail"),
])
def test_bad_requests_get_clear_json_errors(client, method, url, body, status, words):
    client.post("/v1/experiments", json=DEFINITION, headers=ANALYST)
    response = getattr(client, method)(url, json=body, headers=ANALYST)
    assert response.status_code == status
    assert words in response.get_json()["message"]


def test_a_name_is_taken_once_and_results_wait_for_the_start(client):
    client.post("/v1/experiments", json=DEFINITION, headers=ANALYST)
    assert client.post("/v1/experiments", json=DEFINITION, headers=ANALYST).status_code == 409
    response = client.get("/v1/experiments/photos-vs-variants/results", headers=ANALYST)
    assert response.status_code == 400 and "not started" in response.get_json()["message"]


def test_scopes_keep_storefronts_out_of_experiments_and_analysts_out_of_exposures(client):
    assert client.get("/v1/experiments").status_code == 401
    assert client.get("/v1/experiments", headers=SHOP).status_code == 403
    assert client.post("/v1/exposures", json={"exposures": []}, headers=ANALYST).status_code == 403


@pytest.mark.parametrize("row, words", [
    ({"user_id": "u 1", "item_id": 1, "position": 1}, "exposures[1].user_id"),
    ({"user_id": "u1", "item_id": -1, "position": 1}, "exposures[1].item_id"),
    ({"user_id": "u1", "item_id": 1, "position": 0}, "exposures[1].position"),
    ({"user_id": "u1", "item_id": 1, "position": 1, "image": "sepia"}, "exposures[1].image"),
    ({"user_id": "u1", "item_id": 1, "position": 1, "timestamp": "later"}, "exposures[1].timestamp"),
    ({"user_id": "u1", "item_id": 1, "position": 1, "colour": 1}, "['colour']"),
])
def test_bad_exposures_are_refused_whole(client, app, row, words):
    started(client)
    good = {"user_id": "u0", "item_id": 1, "position": 1}
    response = client.post("/v1/exposures", json={"exposures": [good, row]}, headers=SHOP)
    assert response.status_code == 400 and words in response.get_json()["message"]
    with app.app_context():
        assert DatabaseExperiments().results("photos-vs-variants")["arms"][0]["exposures"] == 0  # nothing half-stored


def test_weight_change_mid_flight_keeps_assigned_users_where_they_were(client):
    started(client)
    users = [f"shopper-{i}" for i in range(400)]
    before = show(client, users)
    client.put("/v1/experiments/photos-vs-variants/weights", json={"weights": {"photo": 9, "variant": 1}}, headers=ANALYST)
    assert show(client, users) == before
    newcomers = show(client, [f"new-{i}" for i in range(2000)])
    assert abs(list(newcomers.values()).count("photo") / 2000 - 0.9) < 0.03


def test_experiments_and_assignments_survive_a_restart(database):
    first = make_app(database).test_client()
    started(first)
    before = show(first, [f"s{i}" for i in range(50)])
    second = make_app(database).test_client()
    assert second.get("/v1/experiments/photos-vs-variants", headers=ANALYST).get_json()["status"] == "running"
    assert show(second, [f"s{i}" for i in range(50)]) == before


def test_cards_hooks_mark_each_card_and_log_one_exposure_per_card(app, client):
    started(client)
    experiments = app.extensions["tailorcard"].experiments
    def cards_of(arm):  # what the cards view shows an arm (arm_policy): the photo at card size, or scenes
        scene = arm_policy(first_in_arm[arm][1]) == SCENE
        return [{"rank": r, "product": {"id": str(10 + r)}, "image_url": f"/v1/variants/{arm}{r}",
                 "variant": {"id": f"{arm}{r}", "ai_generated": scene}} for r in (1, 2, 3)]
    with app.test_request_context():
        first_in_arm = {}  # arm -> (the first shopper hashed into it, their assignment)
        for user in (f"shopper-{i}" for i in range(40)):
            assigned = experiments.assign(user)
            first_in_arm.setdefault(assigned["arm"], (user, assigned))
        served = {}
        for arm, (user, assigned) in first_in_arm.items():
            served[arm] = arm_cards(cards_of(arm), assigned)
            assert experiments.log_exposures(user, assigned, served[arm]) == 3
        results = experiments.results("photos-vs-variants")
    assert set(served) == {"photo", "variant"}
    for arm, marked in served.items():
        assert {c["experiment"]["arm"] for c in marked} == {arm}
    assert arm_policy(first_in_arm["photo"][1]) == UPSCALED and arm_policy(first_in_arm["variant"][1]) == SCENE
    assert [c["image_url"] for c in served["variant"]] == [c["image_url"] for c in cards_of("variant")]
    assert [(a["arm"], a["users"], a["exposures"]) for a in results["arms"]] == [("photo", 1, 3), ("variant", 1, 3)]
    assert set(results["breakdowns"]["image"]) == {"original", "variant"}


def stored_assignments(app) -> dict[str, str]:
    with app.extensions["tailorcard"].db.connect() as connection:
        query = sa.select(experiments_db.assignments.c.user_id, experiments_db.assignments.c.arm)
        return dict(connection.execute(query).all())


def test_a_concurrent_workers_first_assignment_wins_over_the_one_being_logged(app, client):
    started(client)
    experiments = app.extensions["tailorcard"].experiments
    card = {"rank": 1, "product": {"id": "7"}, "variant": None}
    with app.test_request_context():
        assigned = experiments.assign("shopper-1")
        assert stored_assignments(app) == {}  # assigning stores nothing until cards are logged in the arm
        other = next(arm for arm in ("photo", "variant") if arm != assigned["arm"])
        with app.extensions["tailorcard"].db.begin() as connection:  # another worker's row, committed first
            connection.execute(experiments_db.assignments.insert().values(
                experiment="photos-vs-variants", user_id="shopper-1", arm=other, assigned_at=0.0))
        assert experiments.log_exposures("shopper-1", assigned, [card]) == 1
        assert stored_assignments(app) == {"shopper-1": other}
        assert experiments.assign("shopper-1")["arm"] == other


def test_reported_exposures_that_fail_to_store_leave_no_assignments_behind(app, client, monkeypatch):
    started(client)

    def failing(connection, rows):
        raise sa.exc.OperationalError("INSERT INTO experiment_exposures", {}, Exception("disk I/O error"))

    monkeypatch.setattr(experiments_db, "add_exposures", failing)
    rows = [{"user_id": "u1", "item_id": 1, "position": 1}]
    assert client.post("/v1/exposures", json={"exposures": rows}, headers=SHOP).status_code == 500
    assert stored_assignments(app) == {}
    monkeypatch.undo()
    arms = show(client, ["u1"])
    assert stored_assignments(app) == arms  # stored with the exposures once they can be


def test_simulated_experiment_end_to_end_with_results_as_json_and_csv(app, client):
    items = seed_products(app, 20)
    api = ApiClient(client, "analyst-key", "shop-key", events_per_request=500)
    config = StudyConfig(users=600, cards=4, items=20)
    run = run_experiment(api, "sim-check", 0.5, config, items, np.random.default_rng(0))
    assert run["users"] == 600 and run["exposures"] == 2400 and not run["srm_mismatch"]
    full = client.get("/v1/experiments/sim-check/results", headers=ANALYST).get_json()
    ctr = next(e for e in full["lifts"] if e["metric"] == "ctr")
    assert ctr["relative"] == pytest.approx(run["relative"]) and ctr["relative_ci"][0] < 0.5 < ctr["relative_ci"][1]
    assert sum(full["attribution"]["attributed_events"].values()) > 0 and full["cumulative"]
    response = client.get("/v1/experiments/sim-check/results.csv", headers=ANALYST)
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    overall = {(r["arm"], r["metric"]): r for r in rows if r["scope"] == "all"}
    assert float(overall[("treatment", "ctr")]["relative_lift"]) == pytest.approx(run["relative"])
    assert {r["scope"] for r in rows} >= {"all", "slot=cards", "position=1", "image=original"}


def test_a_stopped_experiment_keeps_its_clicks_and_gives_none_of_a_later_experiments(app, client):
    """A click after another experiment showed the same shopper the same product is that experiment's."""
    seed_products(app, 1)  # product 1, which `show` serves: events must name a live product
    first = {**DEFINITION, "name": "first"}
    started(client, first)
    show(client, ["u1", "u2"])
    assert client.post("/v1/experiments/first/stop", headers=ANALYST).status_code == 200
    started(client, {**DEFINITION, "name": "second"})
    show(client, ["u1"])  # u1 sees product 1 again, now under the second experiment; u2 does not
    clicks = [{"event_id": f"click-{user}", "user_id": user, "item_id": "1", "type": "click",
               "timestamp": time.time()} for user in ("u1", "u2")]
    assert client.post("/v1/events", json=clicks, headers=SHOP).status_code in (200, 202)
    first_results = client.get("/v1/experiments/first/results", headers=ANALYST).get_json()["attribution"]
    second_results = client.get("/v1/experiments/second/results", headers=ANALYST).get_json()["attribution"]
    assert first_results["attributed_events"]["click"] == 1  # u2's: nothing showed u2 the product since
    assert first_results["credited_elsewhere_events"]["click"] == 1  # u1's went to the second experiment
    assert second_results["attributed_events"]["click"] == 1 and second_results["credited_elsewhere_events"]["click"] == 0
