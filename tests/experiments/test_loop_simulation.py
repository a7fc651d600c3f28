"""The learning-loop simulation's own bookkeeping: the clicks it posts reach the decisions that drew them, and
its summary reads the truth it was given (the lab: SIMULATED shoppers, the real API)."""
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from lab.loop_simulation import (SIMULATED_START, LoopConfig, LoopLab, _best_gaps, _off_policy_checks, _winner_hits,
                                 hidden_likings, oracle_winner, round_winner, run_round, scene_policies, secret_colours,
                                 summarize)
from service import experiments_db

PHOTO_ARMS = [{"name": name, "weight": 1, "presentation": {"kind": "upscaled"}} for name in ("photo", "photo-again")]


def test_every_posted_click_is_credited_to_the_decision_that_drew_it(tmp_path, monkeypatch):
    """Shoppers come back within seconds here; a click stamped after their next visit was credited to it."""
    import lab.loop_simulation as loop_simulation
    monkeypatch.setattr(loop_simulation, "PROGRESS_EVERY", 25)
    logged = []
    lab = LoopLab(tmp_path, LoopConfig(products=8, shoppers=60, segments=2), "embedded", "embedded", log=logged.append)
    assert lab.app.instance_path == str(tmp_path / "instance")  # its images stay in its folder, not the server's
    shoppers = lab.shoppers_by_segment()
    assert sum(len(users) for users in shoppers.values()) == 60  # every simulated shopper, not the API's first page
    likings = hidden_likings(lab, sorted(shoppers))
    finished = run_round(lab, 0, shoppers, likings, "check", PHOTO_ARMS, decisions_per_segment=60)
    decisions, off_policy = finished["decisions"], finished["results"]["off_policy"]
    assert len(decisions) == off_policy["decisions"] == 60 * len(shoppers)
    assert decisions.groupby("segment")["user"].nunique().max() < 60  # shoppers did come back
    assert (decisions["clicks"] > 0).sum() > 10
    assert off_policy["observed_reward"] == (decisions["clicks"] > 0).mean()
    progress = [line for line in logged if "decisions" in line]  # a line every 25 decisions of each segment
    assert len(progress) == 2 * len(shoppers) and progress[0].endswith("25 of 60 decisions")


def test_a_run_repeats_to_the_digit_on_its_simulated_clock(tmp_path):
    """Decisions, exposures and the bandit's refreshes follow the simulated clock, not the machine's: the decision
    draws hash simulated hours and the counts refresh every 5 simulated seconds, however fast the machine runs."""
    config = LoopConfig(products=8, shoppers=60, segments=2)
    runs = []
    for name in ("first", "again"):
        lab = LoopLab(tmp_path / name, config, "embedded", "embedded", log=lambda *a: None)
        shoppers = lab.shoppers_by_segment()
        runs.append(run_round(lab, 0, shoppers, hidden_likings(lab, sorted(shoppers)), "check", PHOTO_ARMS,
                              decisions_per_segment=40))
        assert lab.clock.time() == pytest.approx(SIMULATED_START + 80 * config.seconds_between_requests)
        with lab.app.extensions["tailorcard"].db.connect() as connection:  # the service stamped simulated time
            stamped = [row.at for row in connection.execute(sa.select(experiments_db.decisions.c.at))]
        assert len(stamped) == 80 and all(SIMULATED_START < at <= lab.clock.time() for at in stamped)
    pd.testing.assert_frame_equal(runs[0]["decisions"], runs[1]["decisions"])
    assert runs[0]["results"]["off_policy"] == runs[1]["results"]["off_policy"]


def _decisions(arms: list[str], truth: dict[str, float], counts: dict[str, int]) -> pd.DataFrame:
    rows = [{"segment": 0, "arm": arm, **{f"decision_rate:{a}": truth[a] for a in arms}}
            for arm, n in counts.items() for _ in range(n)]
    return pd.DataFrame(rows)


def test_the_best_arm_is_found_when_it_is_the_most_played_and_a_miss_says_what_it_cost():
    arms, truth = ["photo", "scene-0", "scene-1"], {"photo": 0.1, "scene-0": 0.2, "scene-1": 0.3}
    assert _best_gaps({"decisions": _decisions(arms, truth, {"photo": 20, "scene-0": 10, "scene-1": 70})}) == [0.0]
    missed = _best_gaps({"decisions": _decisions(arms, truth, {"photo": 20, "scene-0": 70, "scene-1": 10})})
    assert np.allclose(missed, [0.1])


def test_the_rounds_winner_is_the_bandits_leader_not_the_most_played_arm():
    arms, truth = ["photo", "scene-0", "scene-1"], {"photo": 0.1, "scene-0": 0.2, "scene-1": 0.3}
    decisions = _decisions(arms, truth, {"photo": 20, "scene-0": 70, "scene-1": 10})  # scene-0 played most early
    led = {"decisions": decisions, "results": {"segments": {"0": {"winner": {"leader": "scene-1"}}}}}
    assert round_winner(led, 0) == "scene-1"
    unread = {"decisions": decisions, "results": {"segments": {}}}  # no results for the segment: most played
    assert round_winner(unread, 0) == "scene-0" and round_winner(unread, 5) is None
    assert _winner_hits(led) == [True] and _winner_hits(unread) == [False]


def test_off_policy_errors_are_each_methods_distance_from_each_arms_true_rate():
    arms, truth = ["photo", "scene-0"], {"photo": 0.1, "scene-0": 0.3}

    def estimate(value, low, high):
        return {"value": value, "interval": [low, high]}
    finished = {"decisions": _decisions(arms, truth, {"photo": 5, "scene-0": 5}),
                "results": {"off_policy": {"arms": {
                    "photo": {"ips": estimate(0.12, 0.05, 0.2), "snips": estimate(0.1, 0, 1), "dr": estimate(0.09, 0, 1)},
                    "scene-0": {"ips": estimate(0.25, 0.2, 0.28), "snips": estimate(0.35, 0, 1), "dr": estimate(0.3, 0, 1)},
                    "gone": {"error": "no decisions"}}}}}
    checks = _off_policy_checks(finished)
    assert np.allclose(checks["ips"], [0.02, 0.05]) and np.allclose(checks["snips"], [0.0, 0.05])
    assert np.allclose(checks["dr"], [0.01, 0.0])
    assert checks["ips_covered"] == [True, False]  # scene-0's interval [0.2, 0.28] misses its true 0.3


def test_the_oracle_ceiling_steers_toward_the_truly_best_scene_arm_whatever_was_played():
    arms, truth = ["photo", "scene-0", "scene-1"], {"photo": 0.5, "scene-0": 0.2, "scene-1": 0.3}
    finished = {"decisions": _decisions(arms, truth, {"photo": 20, "scene-0": 70, "scene-1": 10})}
    assert oracle_winner(finished, 0) == "scene-1"  # not the photo, though it is truly better, nor the most played


def test_the_cli_passes_the_step_styles_and_shoppers_and_refuses_a_step_outside_0_to_1(tmp_path, monkeypatch):
    from click.testing import CliRunner
    import lab.loop_simulation as loop_simulation
    from service.cli import main
    seen = []
    monkeypatch.setattr(loop_simulation, "run_loop_simulation", lambda folder, config, *args, **kwargs: (
        seen.append(config) or {"step": config.step}))
    ran = CliRunner().invoke(main, ["simulate-loop", "--folder", str(tmp_path / "loop"), "--step", "0.8", "--json"])
    assert ran.exit_code == 0, ran.output
    assert [config.step for config in seen] == [0.8] and seen[0].styles == "fixed" and not seen[0].with_losers
    assert seen[0].shoppers == 3000
    follow = CliRunner().invoke(main, ["simulate-loop", "--folder", str(tmp_path / "loop"), "--styles", "follow",
                                       "--with-losers", "--shoppers", "12000"])
    assert follow.exit_code == 0 and seen[-1].styles == "follow" and seen[-1].with_losers
    assert seen[-1].shoppers == 12000 and seen[0].steering == "winner"
    fit = CliRunner().invoke(main, ["simulate-loop", "--folder", str(tmp_path / "loop"), "--steering", "fit"])
    assert fit.exit_code == 0 and seen.pop().steering == "fit"
    assert scene_policies(seen[0], 2)[1] == {"kind": "scene", "style": 1, "round": 2}
    assert scene_policies(seen[-1], 2)[1] == {"kind": "scene", "round_style": 1, "round": 2}
    refused = CliRunner().invoke(main, ["simulate-loop", "--folder", str(tmp_path / "loop"), "--step", "1.5"])
    assert refused.exit_code == 2 and "--step" in refused.output and len(seen) == 2



def test_the_ceiling_steers_each_segment_toward_its_best_arm_and_the_next_round_starts_with_that_style(tmp_path):
    """`simulate-loop --ceiling`: no shoppers; every arm's rate over the products; the best arm's style leads
    the segment's next round (the service orders the styles, as for any winner)."""
    from lab.loop_ceiling import ceiling_rounds
    config = LoopConfig(products=2, shoppers=60, segments=2, rounds=2, candidates=2, step=1.0, styles="follow",
                        with_losers=True)
    lab = LoopLab(tmp_path, config, "embedded", "embedded", log=lambda *a: None)
    segments = sorted(lab.shoppers_by_segment())
    rounds = ceiling_rounds(lab, segments, hidden_likings(lab, segments))
    assert len(rounds) == 2 and all(len(lifts) == 2 for r in rounds for lifts in r.values())
    for segment in segments:
        stored = lab.call("GET", f"/v1/segments/{segment}/rounds", lab.analyst)["rounds"]
        assert stored[1]["styles"][0] == int(np.argmax(rounds[0][segment]))  # round 0's arm j painted style j
        assert len(stored[1]["losers"]) == len(stored[1]["winners"])  # the other arm's scenes of those products
        assert len(stored) == 2  # the last round steers nothing


def test_the_generators_reach_paints_the_bank_rows_most_like_each_segments_liking(tmp_path):
    from features.vectors import unit_rows
    from lab.loop_ceiling import REACH_ROWS, generator_reach
    lab = LoopLab(tmp_path, LoopConfig(products=2, shoppers=60, segments=2), "embedded", "embedded", log=lambda *a: None)
    segments = sorted(lab.shoppers_by_segment())
    likings = hidden_likings(lab, segments)
    with lab.app.app_context():
        presenter = lab.app.extensions["tailorcard"].variants.presenter
    painted, paint_rows = [], presenter.paint_rows
    presenter.paint_rows = lambda photo, policy, rows: painted.append(rows) or paint_rows(photo, policy, rows)
    reach = generator_reach(lab, segments, likings)
    bank = unit_rows(presenter.scenes.condition_bank, allow_zero=True)
    for n, segment in enumerate(segments):
        likeness = bank @ likings[segment]
        rows = unit_rows(painted[2 * n], allow_zero=True) @ likings[segment]  # two products a segment
        assert len(rows) == REACH_ROWS and np.allclose(np.sort(rows), np.sort(likeness)[-REACH_ROWS:], atol=1e-5)
        part = reach[segment]
        assert 0 <= part["mean_lift"] <= part["best_of_lift"] <= 1 and 1 <= part["products"] <= 2


def test_a_plain_backdrop_of_the_secret_colour_is_liked_more_than_one_of_its_complement(tmp_path):
    """The ceiling's yardstick: cards over a plain backdrop of each segment's secret colour. Drawing the colours
    first leaves the likings (and so every earlier run's numbers) as they were."""
    from lab.loop_ceiling import plain_backdrop_lift
    lab = LoopLab(tmp_path, LoopConfig(products=2, shoppers=60, segments=2), "embedded", "embedded", log=lambda *a: None)
    segments = sorted(lab.shoppers_by_segment())
    state = lab.rng.bit_generator.state
    likings = hidden_likings(lab, segments)
    lab.rng.bit_generator.state = state
    colours = secret_colours(lab, segments)
    again = hidden_likings(lab, segments, colours)
    assert all(np.allclose(again[s], likings[s]) for s in segments)
    own = plain_backdrop_lift(lab, segments, likings, colours)
    complement = plain_backdrop_lift(lab, segments, likings, {s: tuple(255 - c for c in colours[s]) for s in segments})
    assert all(0 <= complement[s] < own[s] <= 1 for s in segments)
    assert min(own.values()) > 0.3


def test_a_run_of_aa_experiments_alone_reports_them_and_no_rounds():
    summary = summarize([], [True, False, False, False], LoopConfig(rounds=0))
    assert summary["aa_false_winner_rate"] == 0.25 and summary["aa_false_winners"] == "1 of 4 segments"
    assert "lift_round_1" not in summary and "ips_error" not in summary and summary["rounds"] == 0


def test_fitted_steering_hands_every_scene_arm_with_its_click_rate_to_the_rounds_api(tmp_path):
    """`--steering fit --ceiling`: every arm's true click rate over the products, not the best arm alone."""
    from lab.loop_ceiling import ceiling_rounds
    from lab.loop_simulation import BASE_CTR
    config = LoopConfig(products=2, shoppers=60, segments=2, rounds=2, candidates=2, styles="follow", steering="fit")
    lab = LoopLab(tmp_path, config, "embedded", "embedded", log=lambda *a: None)
    segments = sorted(lab.shoppers_by_segment())
    rounds = ceiling_rounds(lab, segments, hidden_likings(lab, segments))
    for segment in segments:
        fitted = lab.call("GET", f"/v1/segments/{segment}/rounds", lab.analyst)["rounds"][1]
        assert fitted["aim"] == "added" and fitted["control_ctr"] == BASE_CTR and fitted["fit"] == "exposures"
        assert np.allclose([arm["ctr"] for arm in fitted["arms"]], BASE_CTR * (1 + rounds[0][segment]))
        assert all(len(arm["scenes"]) == 2 for arm in fitted["arms"])  # both products' scenes of each arm


def test_fitted_steering_fits_each_segment_to_the_rounds_experiment_as_an_analyst_would(tmp_path):
    """The loop posts {"experiment": name}: the service reads the arms' rates, intervals and images itself."""
    from lab.loop_simulation import make_round_images, round_arms, steer
    config = LoopConfig(products=2, shoppers=60, segments=2, candidates=2, styles="follow", steering="fit",
                        fit="intervals")
    lab = LoopLab(tmp_path, config, "embedded", "embedded", log=lambda *a: None)
    shoppers = lab.shoppers_by_segment()
    segments = sorted(shoppers)
    make_round_images(lab, segments, scene_policies(config, 0))
    finished = run_round(lab, 0, shoppers, hidden_likings(lab, segments), "fit-me", round_arms(config, 0),
                         decisions_per_segment=60)
    steer(lab, finished, segments, config)
    for segment in segments:
        rows = {row["arm"]: row for row in finished["results"]["segments"][str(segment)]["arms"]}
        fitted = lab.call("GET", f"/v1/segments/{segment}/rounds", lab.analyst)["rounds"][1]
        assert fitted["experiment"] == "fit-me" and fitted["fit"] == "intervals"
        assert fitted["control_ctr"] == rows["photo"]["ctr"]
        assert {arm["arm"]: (arm["ctr"], arm["exposures"], arm["ctr_ci"]) for arm in fitted["arms"]} == {
            name: (rows[name]["ctr"], rows[name]["exposures"], rows[name]["ctr_ci"]) for name in ("scene-0", "scene-1")}


def test_fitting_from_an_experiment_weighs_one_arm_by_exposures_between_arms_and_logs_a_segment_it_cannot_fit():
    from types import SimpleNamespace

    from lab.loop_simulation import post_fit_from_experiment
    answers = iter([(400, "too_few_arms", 'two scene arms at least, to fit between them ("fit": "between-arms")'),
                    (201, None, "a round"),
                    (409, "nothing_to_fit", "experiment 'r' has shown no scene arm's images in segment 1: nothing to "
                                            "fit (...)"),
                    (404, "not_found", "no experiment 'r'")])
    posted, logged = [], []

    def post(url, headers, json):
        posted.append((url, json))
        status, error, message = next(answers)
        return SimpleNamespace(status_code=status, get_json=lambda silent=False: {"error": error, "message": message},
                               get_data=lambda as_text=False: message)

    lab = SimpleNamespace(client=SimpleNamespace(post=post), analyst={}, log=logged.append,
                          config=LoopConfig(steering="fit", fit="between-arms"))
    post_fit_from_experiment(lab, 0, "r")
    assert [body["fit"] for _, body in posted] == ["between-arms", "exposures"] and not logged
    post_fit_from_experiment(lab, 1, "r")
    assert posted[-1] == ("/v1/segments/1/rounds", {"experiment": "r", "fit": "between-arms"})
    assert logged == ["segment 1: not steered (experiment 'r' has shown no scene arm's images in segment 1: "
                      "nothing to fit (...))"]
    with pytest.raises(RuntimeError, match="404"):
        post_fit_from_experiment(lab, 2, "r")
