"""Analysis: textbook intervals, the delta method, SRM, CUPED, breakdowns, the CSV table."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from lab.experiment_simulation import ShopperModel, simulate_in_process
from recsys.experiments import (Experiment, analyze, attribute, change_weights, hashed_arm, results_table,
                                start_experiment)
from recsys.experiments.analysis import linearised
from recsys.experiments.segments import clustered_ratio
from recsys.experiments.stats import compare, interval_se, normal_interval, proportion_interval, wilson_interval

DAY = 86_400.0


def running(weights=(1, 1), **kwargs):
    arms = [{"name": name, "weight": w} for name, w in zip(("control", "treatment", "third"), weights)]
    return start_experiment(Experiment("exp", arms, **kwargs), [], now=0.0)


def simulated_results(experiment, model=None, n_users=4000, seed=0, drop=None, detailed=False):
    exposures, events, shoppers = simulate_in_process(experiment, model or ShopperModel(), n_users, seed=seed)
    if drop is not None:
        exposures = exposures[~drop(exposures)]
    return analyze(experiment, attribute(exposures, events, DAY), shoppers.pre_period, detailed=detailed).to_dict()


def test_wald_interval_matches_the_textbook():
    # OpenIntro Statistics, 4th ed. (Diez, Cetinkaya-Rundel, Barr), section 5.2: 887 of 1,000 polled
    # support expanding solar energy; 0.887 +- 1.96 x 0.010 gives the 95% interval (0.8674, 0.9066).
    low, high = proportion_interval(887, 1000)
    assert (round(low, 4), round(high, 4)) == (0.8674, 0.9066)


def test_wilson_interval_is_not_empty_at_no_successes():
    # with no success in n trials the Wilson upper bound is z^2 / (n + z^2): 3.8415 / 13.8415 for n = 10
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.27753, abs=1e-5))
    low, high = wilson_interval(887, 1000)  # near Wald's (0.8674, 0.9066) at this n, pulled toward 1/2
    assert (round(low, 4), round(high, 4)) == (0.8659, 0.9052)  # worked by hand: centre 0.8855, half 0.0196


def test_an_arm_with_exposures_and_no_click_gets_an_honest_interval():
    """The clustered delta-method interval is [0, 0] without clicks; the Wilson floor widens it."""
    ctr, (low, high) = clustered_ratio(np.zeros(5), np.full(5, 2.0))  # 5 shoppers, 2 exposures each, no click
    assert ctr == 0.0 and low == 0.0 and high == pytest.approx(wilson_interval(0, 10)[1])
    ctr, (low, high) = clustered_ratio(np.array([2.0, 0.0, 0.0, 0.0]), np.full(4, 2.0))  # one shopper clicked both
    assert ctr == 0.25 and 0.0 <= low and high <= 1.0  # the clustered interval, kept inside [0, 1]


def test_conversion_interval_of_an_arm_is_the_textbook_wald_interval():
    # The same worked example through the whole pipeline: 1,000 users, 887 of them purchase.
    users = [f"u{i}" for i in range(1000)]
    served = pd.DataFrame({"user_id": users * 2, "arm": ["control"] * 1000 + ["treatment"] * 1000,
                           "item_id": [1] * 1000 + [2] * 1000, "timestamp": 0.0})
    served.loc[1000:, "user_id"] = [f"v{i}" for i in range(1000)]
    bought = pd.DataFrame({"user_id": users[:887], "item_id": 1, "type": "purchase", "timestamp": 10.0})
    arms = analyze(running(), attribute(served, bought, DAY)).to_dict()["arms"]
    assert arms[0]["conversion_rate"] == pytest.approx(0.887)
    assert [round(x, 4) for x in arms[0]["conversion_rate_ci"]] == [0.8674, 0.9066]


def test_difference_of_two_proportions_matches_the_textbook():
    # OpenIntro Statistics, 4th ed., section 6.2 (CPR and blood thinners): 14 of 40 treated and 11 of 50
    # controls survived; point estimate 0.13, SE 0.095, 90% interval about (-0.03, 0.29).
    treated = np.r_[np.ones(14), np.zeros(26)]
    control = np.r_[np.ones(11), np.zeros(39)]
    result = compare(treated, control, confidence=0.90)
    assert round(result["absolute"], 2) == 0.13 and round(result["se"], 3) == 0.095
    assert [round(x, 2) for x in result["absolute_ci"]] == [-0.03, 0.29]


def test_linearised_ctr_has_the_delta_method_variance():
    rng = np.random.default_rng(1)
    shown = rng.integers(1, 12, 500).astype(float)
    clicks = rng.binomial(shown.astype(int), 0.2).astype(float)
    users = pd.DataFrame({"arm": "control", "clicks": clicks, "exposures": shown})
    values = linearised(users, "ctr")
    ratio = clicks.sum() / shown.sum()
    covariance = np.cov(clicks, shown, ddof=0)
    # Var(sum y / sum x) ~ (var y - 2 R cov(y, x) + R^2 var x) / (n mean(x)^2)
    delta = (covariance[0, 0] - 2 * ratio * covariance[0, 1] + ratio**2 * covariance[1, 1]) / (500 * shown.mean() ** 2)
    assert values.mean() == pytest.approx(ratio)
    assert values.var(ddof=0) / 500 == pytest.approx(delta)


def test_srm_fires_on_a_rigged_split_and_not_on_a_fair_one():
    experiment = running()
    fair = simulated_results(experiment)
    every_fifth_treated = lambda e: (e["arm"] == "treatment") & (e["user_id"].str.extract(r"(\d+)$")[0].astype(int) % 5 == 0)  # noqa: E731
    rigged = simulated_results(experiment, drop=every_fifth_treated)  # as if a fifth of its logs were lost
    assert not fair["srm"]["mismatch"] and fair["srm"]["p_value"] > 0.001
    assert rigged["srm"]["mismatch"] and rigged["srm"]["p_value"] < 0.001


def test_srm_expects_the_weights_in_force_when_each_user_arrived():
    before = running()
    after = change_weights(before, (9, 1), now=7 * DAY)  # halfway through a 14-day run
    exposures, events, _ = simulate_in_process(before, ShopperModel(), 4000)
    late = exposures["timestamp"] >= 7 * DAY
    exposures.loc[late, "arm"] = [hashed_arm(after, user) for user in exposures.loc[late, "user_id"]]
    attribution = attribute(exposures, events, DAY)
    aware = analyze(after, attribution, detailed=False).to_dict()["srm"]
    naive = analyze(replace(after, weight_history=()), attribution, detailed=False).to_dict()["srm"]  # as if always 9:1
    assert not aware["mismatch"] and aware["expected_shares"] == pytest.approx([0.7, 0.3], abs=0.02)
    assert naive["mismatch"]


def test_cuped_reduces_variance_with_correlated_pre_period_activity():
    experiment = running()
    model = ShopperModel(pre_period_cards=60, concentration=3.0)  # heterogeneous users, long history
    correlated = simulated_results(experiment, model)
    exposures, events, shoppers = simulate_in_process(experiment, model, 4000)
    noise = pd.Series(np.random.default_rng(2).permutation(shoppers.pre_period.to_numpy()), index=shoppers.pre_period.index)
    unrelated = analyze(experiment, attribute(exposures, events, DAY), noise, detailed=False).to_dict()
    ctr = lambda results: next(e for e in results["lifts"] if e["metric"] == "ctr")  # noqa: E731
    assert ctr(correlated)["cuped_variance_reduction"] > 0.2
    assert abs(ctr(unrelated)["cuped_variance_reduction"]) < 0.01
    assert ctr(correlated)["cuped"]["relative"] == pytest.approx(ctr(correlated)["relative"], abs=0.05)


def test_planted_lift_is_found_and_reported_per_slot_and_over_time():
    results = simulated_results(running(), ShopperModel(lifts={"treatment": 0.5}), n_users=3000, detailed=True)
    ctr = next(e for e in results["lifts"] if e["metric"] == "ctr")
    assert ctr["relative_ci"][0] < 0.5 < ctr["relative_ci"][1] and ctr["significant"]
    assert set(results["breakdowns"]["position"]) == {str(p) for p in range(1, 6)}
    last = results["cumulative"][-1]
    assert last["relative"] == pytest.approx(ctr["relative"]) and last["users"] == 3000
    first = results["cumulative"][0]
    assert first["relative_ci"][1] - first["relative_ci"][0] > last["relative_ci"][1] - last["relative_ci"][0]


def test_results_table_has_a_row_per_scope_arm_and_metric():
    results = simulated_results(running(), n_users=500, detailed=True)
    table = results_table(results)
    scopes = 1 + sum(len(values) for values in results["breakdowns"].values())
    assert len(table) == scopes * 2 * 3
    treatment_ctr = table[(table["scope"] == "all") & (table["arm"] == "treatment") & (table["metric"] == "ctr")]
    assert treatment_ctr["relative_lift"].iloc[0] == pytest.approx(results["lifts"][0]["relative"])
    assert table.loc[table["arm"] == "control", "relative_lift"].isna().all()


def test_the_standard_error_behind_an_interval_is_the_one_it_was_made_from():
    for confidence in (0.9, 0.95, 0.99):
        assert np.isclose(interval_se(normal_interval(0.06, 0.004, confidence), confidence), 0.004)
