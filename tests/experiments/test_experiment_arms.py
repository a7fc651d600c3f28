"""Arms that really differ (a presentation policy each) and the bandit mode, end to end through the cards endpoint:
each arm's own images, decisions logged with their probabilities, the switch back to a fixed split, per-segment
results with off-policy estimates, and old-style arms."""
from __future__ import annotations

import csv
import io
import shutil
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from service_helpers import N_PRODUCTS, N_SHOPPERS, SHIPPED_CATALOGUE, auth, make_app  # noqa: E402

from features.catalogue import load_catalogue  # noqa: E402
from imagegen.presentation import SCENE, UPSCALED, PresentationPolicy  # noqa: E402
from recsys.experiments import Experiment, attribute  # noqa: E402
from service import experiments_db  # noqa: E402
from service.bootstrap import seed  # noqa: E402
from service.db import make_engine, metadata  # noqa: E402
from service.bandit_tally import BanditTally  # noqa: E402
from service.clock import ManualClock  # noqa: E402
from service.experiments_store import BANDIT_COUNTS_REFRESH_S, arm_description, arm_policy  # noqa: E402

STOREFRONT, ANALYST = auth("storefront"), auth("analyst")
GUIDED = [{"name": "calm", "weight": 1, "presentation": {"kind": "scene", "guidance_scale": 3.0}},
          {"name": "bold", "weight": 1, "presentation": {"kind": "scene", "guidance_scale": 9.0}}]
BANDIT_ARMS = [{"name": "photo", "weight": 1, "presentation": {"kind": "upscaled"}}, *GUIDED]
BANDIT = {"control_share": 0.3, "min_share": 0.05}


@pytest.fixture(scope="module")
def seeded_database(tmp_path_factory, tiny_encoder) -> Path:
    folder = tmp_path_factory.mktemp("seeded-arms")
    catalogue = load_catalogue(SHIPPED_CATALOGUE, check_images=False)
    engine = make_engine(f"sqlite:///{folder / 'tailorcard.sqlite'}")
    metadata.create_all(engine)
    seed(engine, catalogue.subset(catalogue.ids[:N_PRODUCTS]), tiny_encoder, simulated_users=N_SHOPPERS, segments=2)
    engine.dispose()
    return folder / "tailorcard.sqlite"


@pytest.fixture
def app(seeded_database, tmp_path, tiny_encoder):
    copy = tmp_path / "tailorcard.sqlite"
    shutil.copy(seeded_database, copy)
    return make_app(f"sqlite:///{copy}", tiny_encoder, RATE_LIMIT_PER_SECOND=1e6, RATE_LIMIT_BURST=10**6)


@pytest.fixture
def client(app):
    return app.test_client()


def shoppers(app) -> list[str]:
    with app.app_context():
        return sorted(app.extensions["tailorcard"].live.get().recommender.preferences.user_ids)


def create(client, name, arms, start=True, **fields):
    response = client.post("/v1/experiments", json={"name": name, "arms": arms, **fields}, headers=ANALYST)
    assert response.status_code == 201, response.json
    if start:
        assert client.post(f"/v1/experiments/{name}/start", headers=ANALYST).status_code == 200
    return response.json


def cards(client, user, n=3):
    response = client.get(f"/v1/users/{user}/cards?n={n}", headers=STOREFRONT)
    assert response.status_code == 200, response.json
    return response.json


def rows(app, table, name):
    with app.extensions["tailorcard"].db.connect() as connection:
        return [row._asdict() for row in connection.execute(sa.select(table).where(table.c.experiment == name))]


def test_arms_differing_only_in_guidance_scale_serve_their_own_images(app, client):
    created = create(client, "guidance", GUIDED)
    assert [a["presentation"] for a in created["arms"]] == [PresentationPolicy("scene", guidance_scale=g).to_dict()
                                                            for g in (3.0, 9.0)]  # stored in full
    users = shoppers(app)
    for user in users:  # every image is asked for
        cards(client, user)
    app.extensions["tailorcard"].jobs.run_pending()
    urls, policies = {"calm": set(), "bold": set()}, {"calm": set(), "bold": set()}
    for user in users:
        body = cards(client, user)
        for card in body["cards"]:
            arm = card["experiment"]["arm"]
            assert card["variant"] is not None and card["variant"]["ai_generated"], card
            urls[arm].add(card["image_url"])
            policies[arm].add(card["variant"]["provenance"]["parameters"]["policy"]["guidance_scale"])
    assert urls["calm"] and urls["bold"] and not urls["calm"] & urls["bold"]  # one product: another image per arm
    assert policies == {"calm": {3.0}, "bold": {9.0}}
    stored = rows(app, experiments_db.exposures, "guidance")
    assert {r["image_url"] for r in stored if r["arm"] == "bold"} >= urls["bold"]  # exposures keep the image
    assert {r["segment"] for r in stored} <= {0, 1}


@pytest.mark.parametrize("presentation, words", [
    ({"kind": "sepia"}, "arms[1].presentation.kind must be one of"),
    ({"kind": "scene", "guidance_scale": 99}, "arms[1].presentation.guidance_scale must be"),
    ({"kind": "scene", "steps": 4}, "arms[1].presentation has unknown field(s) ['steps']"),
    ("scene", "arms[1].presentation must be an object"),
])
def test_a_bad_presentation_is_a_400_naming_the_field(client, presentation, words):
    arms = [GUIDED[0], {"name": "odd", "weight": 1, "presentation": presentation}]
    response = client.post("/v1/experiments", json={"name": "odd", "arms": arms}, headers=ANALYST)
    assert response.status_code == 400 and words in response.json["message"], response.json


def test_a_bandit_needs_the_photo_as_its_control(client):
    response = client.post("/v1/experiments", json={"name": "no-photo", "arms": GUIDED, "allocation": "bandit"},
                           headers=ANALYST)
    assert response.status_code == 400 and "control" in response.json["message"] and "photo" in response.json["message"]
    create(client, "scenes-only", GUIDED)
    switched = client.post("/v1/experiments/scenes-only/allocation", json={"allocation": "bandit"}, headers=ANALYST)
    assert switched.status_code == 400 and "control" in switched.json["message"]
    bad = client.post("/v1/experiments/scenes-only/allocation", json={"allocation": "greedy"}, headers=ANALYST)
    assert bad.status_code == 400 and "allocation" in bad.json["message"]


def test_bandit_decisions_are_logged_with_their_probabilities_and_the_switch_back_is_sticky(app, client):
    create(client, "bandit", BANDIT_ARMS, allocation="bandit", bandit=BANDIT)
    users = shoppers(app)
    served = {}
    for user in users:
        for _ in range(2):
            body = cards(client, user)
            assert body["experiment"]["allocation"] == "bandit"
            served.setdefault(user, []).append(body["experiment"]["arm"])
    decisions = rows(app, experiments_db.decisions, "bandit")
    assert len(decisions) == 2 * len(users)  # one per cards request
    for decision in decisions:
        shares = decision["probabilities"]
        assert sum(shares.values()) == pytest.approx(1.0)
        assert shares["photo"] >= BANDIT["control_share"] - 1e-9
        assert min(shares["calm"], shares["bold"]) >= BANDIT["min_share"] - 1e-9
        assert decision["probability"] == pytest.approx(shares[decision["arm"]])
    assert rows(app, experiments_db.assignments, "bandit") == []  # nothing sticky
    exposures = rows(app, experiments_db.exposures, "bandit")
    by_decision = {d["seq"]: d["arm"] for d in decisions}
    assert exposures and all(by_decision[e["decision"]] == e["arm"] for e in exposures)

    switched = client.post("/v1/experiments/bandit/allocation", json={"allocation": "fixed"}, headers=ANALYST)
    assert switched.status_code == 200, switched.json
    assert switched.json["allocation"] == "fixed" and [a for _, a in switched.json["allocation_history"]] == [
        "bandit", "fixed"]
    again = {user: {cards(client, user)["experiment"]["arm"] for _ in range(3)} for user in users[:6]}
    assert all(len(arms) == 1 for arms in again.values())  # sticky again
    stored = {r["user_id"]: r["arm"] for r in rows(app, experiments_db.assignments, "bandit")}
    assert {user: arms.pop() for user, arms in again.items()} == stored
    assert len(rows(app, experiments_db.decisions, "bandit")) == 2 * len(users)  # no decision under a fixed split


def test_a_bandit_stamps_and_refreshes_on_the_apps_clock(seeded_database, tmp_path, tiny_encoder):
    """Decisions and exposures carry the app's clock's time, and the counts behind the probabilities are re-read
    when that clock has moved BANDIT_COUNTS_REFRESH_S, not the machine's (what makes simulations repeatable)."""
    copy = tmp_path / "tailorcard.sqlite"
    shutil.copy(seeded_database, copy)
    clock = ManualClock(1_800_000_000.0)
    app = make_app(f"sqlite:///{copy}", tiny_encoder, CLOCK=clock, RATE_LIMIT_PER_SECOND=1e6, RATE_LIMIT_BURST=10**6)
    client = app.test_client()
    create(client, "clocked", BANDIT_ARMS, allocation="bandit", bandit=BANDIT)
    user = shoppers(app)[0]
    first = cards(client, user)["experiment"]["probabilities"]
    decision, = rows(app, experiments_db.decisions, "clocked")
    assert decision["at"] == clock.time()
    assert {e["timestamp"] for e in rows(app, experiments_db.exposures, "clocked")} == {clock.time()}
    clicks = [{"event_id": f"c-{n}-{other}", "user_id": other, "item_id": card["product"]["id"], "type": "click",
               "timestamp": clock.time() + 1}
              for n, other in enumerate(shoppers(app)[:12]) for card in cards(client, other)["cards"][:1]]
    assert client.post("/v1/events", json=clicks, headers=STOREFRONT).status_code in (200, 202)
    clock.advance(BANDIT_COUNTS_REFRESH_S / 2)
    assert cards(client, user)["experiment"]["probabilities"] == first  # counted less than the interval ago
    clock.advance(BANDIT_COUNTS_REFRESH_S)
    assert cards(client, user)["experiment"]["probabilities"] != first  # re-counted: the clicks moved them


def test_a_bandits_counts_read_a_little_at_a_time_equal_the_results_recount(seeded_database, tmp_path,
                                                                            tiny_encoder):
    """The counts behind a bandit's probabilities are brought up to date from the rows logged since the last read
    (service.bandit_tally); across rounds in which exposures grow older than the window, they equal the results
    page's recount of the whole log, which leaves out the clicks that followed a later exposure elsewhere."""
    copy = tmp_path / "tailorcard.sqlite"
    shutil.copy(seeded_database, copy)
    clock = ManualClock(1_800_000_000.0)
    app = make_app(f"sqlite:///{copy}", tiny_encoder, CLOCK=clock, RATE_LIMIT_PER_SECOND=1e6, RATE_LIMIT_BURST=10**6)
    client = app.test_client()
    create(client, "tally", BANDIT_ARMS, allocation="bandit", bandit=BANDIT, attribution_window_s=60)
    with app.app_context():
        tally = BanditTally(app.extensions["tailorcard"].experiments.get("tally"))
    users, clicked, later = shoppers(app), 0, []
    for round_ in range(4):  # 40 s apart: each round's exposures are a window old two rounds later
        shown = [(user, cards(client, user)["cards"][0]["product"]["id"]) for user in users[round_ % 2::2]]
        clicks = [{"event_id": f"c-{round_}-{n}", "user_id": user, "item_id": item, "type": "click",
                   "timestamp": clock.time() + 1} for n, (user, item) in enumerate(shown + later)]
        later = shown[1::3]  # a third of them click a round later too (40 s: still within the window)
        with app.extensions["tailorcard"].db.begin() as connection:  # another experiment shows some the product
            experiments_db.add_exposures(connection, [
                {"experiment": "elsewhere", "arm": "a", "user_id": user, "item_id": item, "slot": "home",
                 "position": 0, "image": "original", "timestamp": clock.time() + 0.5} for user, item in shown[::4]])
        assert client.post("/v1/events", json=clicks[::2], headers=STOREFRONT).status_code in (200, 202)
        clock.advance(40)
        with app.extensions["tailorcard"].db.connect() as connection:
            counts = tally.refresh(connection, clock.time(), clock.monotonic())
        segments = client.get("/v1/experiments/tally/results", headers=ANALYST).json["segments"]
        recount = {key: {arm["arm"]: (arm["exposures"], arm["clicks"]) for arm in part["arms"] if arm["exposures"]}
                   for key, part in segments.items()}
        assert counts == recount
        clicked = sum(c for arms in counts.values() for _, c in arms.values())
    assert len(tally._counts._exposures) < sum(n for arms in counts.values() for n, _ in arms.values())  # some settled
    assert clicked >= 4
    with app.extensions["tailorcard"].db.connect() as connection:
        everything = experiments_db.exposure_frame(connection, "tally")
        outcomes = experiments_db.outcome_events(connection, "tally", 0.0)
    blind = attribute(everything, outcomes, 60, keep_multi_arm=True).exposures["clicked"].sum()
    assert clicked <= blind - 2  # the clicks after the other experiment's exposures are left out


def test_results_show_status_segments_bandit_probabilities_and_off_policy_estimates(app, client):
    create(client, "bandit-results", BANDIT_ARMS, allocation="bandit", bandit=BANDIT)
    users = shoppers(app)
    clicks = []
    for i, user in enumerate(users):
        body = cards(client, user)
        if i % 2 == 0:  # every other shopper clicks their first card (after it was served)
            clicks.append({"event_id": f"click-{i}", "user_id": user, "item_id": body["cards"][0]["product"]["id"],
                           "type": "click"})
    now = time.time()
    clicks = [{**click, "timestamp": now + 1} for click in clicks]
    assert client.post("/v1/events", json=clicks, headers=STOREFRONT).status_code == 202
    results = client.get("/v1/experiments/bandit-results/results", headers=ANALYST).json
    assert results["status"] == "running" and results["allocation"] == "bandit"
    assert results["definition"]["bandit"] == BANDIT
    assert set(results["segments"]) <= {"0", "1"} and results["segments"]
    decisions = 0
    for key, part in results["segments"].items():
        decisions += part["decisions"]
        assert [a["arm"] for a in part["arms"]] == ["photo", "calm", "bold"]
        assert sum(a["probability"] for a in part["arms"]) == pytest.approx(1.0)
        assert sum(a["decision_share"] for a in part["arms"]) == pytest.approx(1.0)
        for arm in part["arms"]:
            if arm["exposures"]:
                assert arm["image_url"] and arm["ctr_ci"][0] <= arm["ctr"] <= arm["ctr_ci"][1]
        assert "winner" in part["winner"]
    assert decisions == len(users)
    assert sum(a["clicks"] for part in results["segments"].values() for a in part["arms"]) == len(clicks)
    # every exposure was a bandit decision: the fixed analysis counts none, and says so; the clicks are attributed
    served = sum(part["exposures"] for part in results["segments"].values())
    assert served >= len(users) and results["exposures_by_allocation"] == {"fixed": 0, "bandit": served}
    assert results["attribution"]["attributed_events"]["click"] == len(clicks)
    assert results["attribution"]["unattributed_events"]["click"] == 0
    assert results["bandit_srm"]["overall"]["observed"] and results["off_policy"]["decisions"] == len(users)
    estimates = results["off_policy"]["arms"]
    assert set(estimates) == {"photo", "calm", "bold"}
    for arm, methods in estimates.items():
        if "error" not in methods:
            assert set(methods) == {"ips", "snips", "dr"}
            assert all(m["interval"][0] <= m["value"] <= m["interval"][1] for m in methods.values())
    assert "ips" in estimates["photo"]  # the control always gets its share: it was shown
    text = client.get("/v1/experiments/bandit-results/results.csv", headers=ANALYST).get_data(as_text=True)
    table = list(csv.DictReader(io.StringIO(text)))
    scopes = {r["scope"] for r in table}
    assert {f"segment={key}" for key in results["segments"]} <= scopes and "off_policy" in scopes
    assert "all" not in scopes  # no fixed-split exposure: no rows of zeros
    counted = [r[column] for r in table for column in ("exposures", "clicks", "decisions") if r[column]]
    assert counted and all(value.isdigit() for value in counted)  # whole numbers, not 3.0
    assert {r["metric"] for r in table if r["scope"] == "off_policy"} >= {"decision_ctr_ips", "decision_ctr_dr"}


def test_old_style_arms_still_load_and_map_as_before():
    stored = {"name": "legacy", "arms": [{"name": "photo", "weight": 1, "image_policy": "original", "generator_params": {}},
                                         {"name": "variant", "weight": 1, "image_policy": "variant",
                                          "generator_params": {}}],
              "status": "running", "started_at": 1.0, "layer_range": [0, 1000], "bucket_arms": [0, 1]}
    experiment = Experiment.from_dict(stored)
    experiment.check_inputs()
    assert [a.presentation for a in experiment.arms] == [{"kind": "upscaled"}, {"kind": "scene"}]
    assert experiment.allocation == "fixed"
    assert arm_policy(arm_description(experiment, "photo")) == UPSCALED
    assert arm_policy(arm_description(experiment, "variant")) == SCENE
    assert arm_policy({"experiment": "legacy", "arm": "variant", "image_policy": "variant"}) == SCENE  # no presentation
    assert arm_policy(None) == SCENE
    assert Experiment.from_dict(experiment.to_dict()).arms == experiment.arms  # stored and read back alike


def test_an_exposures_table_from_before_bandits_gains_its_new_columns(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with engine.begin() as connection:  # the table as it was made before segment, image_url and decision
        connection.execute(sa.text(
            "CREATE TABLE experiment_exposures (seq INTEGER PRIMARY KEY AUTOINCREMENT, experiment VARCHAR(128) NOT NULL, "
            "arm VARCHAR(128) NOT NULL, user_id VARCHAR(160) NOT NULL, item_id BIGINT NOT NULL, slot VARCHAR(128) NOT NULL, "
            "position INTEGER NOT NULL, image VARCHAR(16) NOT NULL, timestamp FLOAT NOT NULL)"))
        connection.execute(sa.text("INSERT INTO experiment_exposures (experiment, arm, user_id, item_id, slot, position, "
                                   "image, timestamp) VALUES ('old', 'a', 'u1', 1, 'cards', 1, 'original', 1.0)"))
    experiments_db.ensure_tables(engine)
    experiments_db.ensure_tables(engine)  # once added, again is a no-op
    columns = {c["name"] for c in sa.inspect(engine).get_columns("experiment_exposures")}
    assert {"segment", "image_url", "decision"} <= columns
    with engine.connect() as connection:
        frame = experiments_db.exposure_frame(connection, "old")
    assert len(frame) == 1 and frame["decision"].isna().all()


def test_an_experiments_results_fit_a_segments_next_round_by_every_scene_arms_click_rate(app, client):
    create(client, "fit-from-results", BANDIT_ARMS)  # a fixed split: the photo, then two scene arms
    users = shoppers(app)
    for user in users:
        cards(client, user)
    app.extensions["tailorcard"].jobs.run_pending()
    shown, clicks = {}, []
    for i, user in enumerate(users):
        body = cards(client, user)
        for card in body["cards"]:
            if card["variant"]:
                shown.setdefault((body["segment"], card["experiment"]["arm"]), set()).add(card["variant"]["id"])
        if body["experiment"]["arm"] == "calm" or i % 4 == 0:  # calm earns more than bold
            clicks.append({"event_id": f"fit-{i}", "user_id": user, "item_id": body["cards"][0]["product"]["id"],
                           "type": "click", "timestamp": time.time() + 1})
    assert client.post("/v1/events", json=clicks, headers=STOREFRONT).status_code == 202
    results = client.get("/v1/experiments/fit-from-results/results", headers=ANALYST).json
    segment, part = next((int(k), p) for k, p in results["segments"].items()
                         if k != "none" and all(a["exposures"] for a in p["arms"]))
    url = f"/v1/segments/{segment}/rounds"
    started = client.post(url, json={"experiment": "fit-from-results"}, headers=ANALYST)
    assert started.status_code == 201, started.json
    rows = {a["arm"]: a for a in part["arms"]}
    assert started.json["aim"] == "added" and started.json["experiment"] == "fit-from-results"
    assert started.json["fit"] == "intervals"  # the results have every interval: the default weighs by them
    assert [arm["arm"] for arm in started.json["arms"]] == ["calm", "bold"] and "left_out" not in started.json
    stored = client.get(url, headers=ANALYST).json["rounds"][1]
    assert stored["experiment"] == "fit-from-results" and stored["arms"] == started.json["arms"]  # its lineage
    assert started.json["control_ctr"] == rows["photo"]["ctr"]
    assert [(a["ctr"], a["exposures"]) for a in started.json["arms"]] == [
        (rows[arm]["ctr"], rows[arm]["exposures"]) for arm in ("calm", "bold")]
    for arm, fitted in zip(("calm", "bold"), started.json["arms"]):
        assert set(fitted["scenes"]) >= shown[(segment, arm)]  # every image the arm showed there, and no other arm's
        assert not set(fitted["scenes"]) & shown.get((segment, "bold" if arm == "calm" else "calm"), set())
    again = client.post(url, json={"experiment": "fit-from-results"}, headers=ANALYST)
    assert again.status_code == 409 and again.json["error"] == "round_exists"
    assert "already has round 1" in again.json["message"]
    assert client.post(url, json={"experiment": "nobody-ran-this"}, headers=ANALYST).status_code == 404
    create(client, "not-started", BANDIT_ARMS, start=False)
    unstarted = client.post(url, json={"experiment": "not-started"}, headers=ANALYST)
    assert unstarted.status_code == 400 and "has not started" in unstarted.json["message"]
    extra = client.post(url, json={"experiment": "fit-from-results", "step": 1}, headers=ANALYST)
    assert extra.status_code == 400 and '"fit": "intervals"} and nothing else' in extra.json["message"]
    assert client.post("/v1/experiments/fit-from-results/stop", headers=ANALYST).status_code == 200
    create(client, "unseen", BANDIT_ARMS)  # started, shown to nobody yet
    unseen = client.post(url, json={"experiment": "unseen"}, headers=ANALYST)
    assert unseen.status_code == 409 and unseen.json["error"] == "nothing_to_fit"
    assert "has not shown its control" in unseen.json["message"]


def test_a_round_fitted_from_an_experiment_names_at_most_max_scenes_per_arm(app, client, monkeypatch):
    """Each named scene is kept in the lineage (and encoded in the request where its CLIP rows were not kept when
    it was made): a big catalogue's arm is sampled evenly, not sent whole."""
    from service import scene_rounds
    create(client, "fit-capped", BANDIT_ARMS)
    users = shoppers(app)
    for user in users:
        cards(client, user)
    app.extensions["tailorcard"].jobs.run_pending()
    clicks = [{"event_id": f"capped-{i}", "user_id": user, "item_id": cards(client, user)["cards"][0]["product"]["id"],
               "type": "click", "timestamp": time.time() + 1} for i, user in enumerate(users)]
    assert client.post("/v1/events", json=clicks[::3], headers=STOREFRONT).status_code == 202
    results = client.get("/v1/experiments/fit-capped/results", headers=ANALYST).json
    segment = next(int(k) for k, p in results["segments"].items()
                   if k != "none" and all(a["exposures"] for a in p["arms"]))
    monkeypatch.setattr(scene_rounds, "MAX_SCENES", 1)
    made = scene_rounds._arm_scenes  # bold's images not made yet: it is left out, and the round says so
    bold = PresentationPolicy.from_dict(next(arm for arm in BANDIT_ARMS if arm["name"] == "bold")["presentation"])
    monkeypatch.setattr(scene_rounds, "_arm_scenes", lambda s, policy: [] if policy == bold else made(s, policy))
    with app.app_context():  # the arms' records, once looked up, are not read again by id
        maker = scene_rounds.deps().variants
    monkeypatch.setattr(type(maker), "get", lambda self, variant_id: pytest.fail(f"{variant_id} read again"))
    started = client.post(f"/v1/segments/{segment}/rounds", json={"experiment": "fit-capped", "fit": "exposures"},
                          headers=ANALYST)
    assert started.status_code == 201, started.json
    assert [len(arm["scenes"]) for arm in started.json["arms"]] == [1] and started.json["fit"] == "exposures"
    assert started.json["left_out"] == [{"arm": "bold", "why": "none of its scene images is made in this segment "
                                                               "yet (they are made on demand)"}]
    rows = {row["arm"]: row for row in results["segments"][str(segment)]["arms"]}  # kept in the lineage
    assert [arm["ctr_ci"] for arm in started.json["arms"]] == [rows["calm"]["ctr_ci"]]
    assert started.json["control_ci"] == rows["photo"]["ctr_ci"]
