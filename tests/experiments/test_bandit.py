"""Bandit mode: assignment probabilities, reproducible decisions, the winner rule, SRM, the seeded lab."""
import json

import numpy as np
import pytest

from lab.bandit_simulation import (BanditLab, aa_rates, best_arm_found_by_exposures, declared_winners, run_bandit,
                                   simulate_bandit)
from recsys.experiments import ExperimentError
from recsys.experiments.bandit import (BanditConfig, assignment_probabilities, bandit_srm, choose, decision_draw,
                                       probability_best, winner)
from recsys.experiments.off_policy import DecisionLog

ARMS = ("original", "warm", "cool")
CONFIG = BanditConfig(control_arm="original", control_share=0.2, min_share=0.02)


@pytest.mark.parametrize("counts", [
    {},  # a fresh segment
    {"original": (5000, 250), "warm": (3000, 180), "cool": (1200, 50)},
    {"original": (100_000, 1000), "warm": (100_000, 9000), "cool": (3, 3)},  # one arm far ahead
    {"original": (40_000, 4000), "warm": (50, 0), "cool": (50, 0)},  # the control far ahead
])
def test_probabilities_sum_to_one_and_keep_the_control_share_and_the_floors(counts):
    shares = assignment_probabilities(CONFIG, ARMS, counts)
    assert list(shares) == list(ARMS)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    assert shares["original"] >= 0.2 - 1e-12
    assert min(shares["warm"], shares["cool"]) >= 0.02 - 1e-12


def test_a_fresh_segment_splits_the_free_share_evenly():
    shares = assignment_probabilities(CONFIG, ARMS, {})
    free = 1 - 0.2 - 2 * 0.02
    assert shares == pytest.approx({"original": 0.2 + free / 3, "warm": 0.02 + free / 3, "cool": 0.02 + free / 3})


def test_a_clearly_better_arm_takes_all_the_traffic_the_fixed_parts_leave():
    little = {"original": (300, 15), "warm": (300, 21), "cool": (300, 15)}  # 7 % against 5 %: not clear yet
    plenty = {"original": (20_000, 1000), "warm": (20_000, 1400), "cool": (20_000, 1000)}
    assert assignment_probabilities(CONFIG, ARMS, little)["warm"] < 0.7
    shares = assignment_probabilities(CONFIG, ARMS, plenty)
    assert shares["warm"] == pytest.approx(1 - 0.2 - 0.02, abs=1e-6)  # everything but the control share and a floor
    assert shares["original"] == pytest.approx(0.2, abs=1e-6)


def test_probability_of_best_matches_monte_carlo():
    alpha, beta = np.array([51.0, 181.0, 51.0]), np.array([4951.0, 2821.0, 1151.0])
    draws = np.random.default_rng(0).beta(alpha, beta, size=(400_000, 3))
    simulated = np.bincount(draws.argmax(axis=1), minlength=3) / len(draws)
    assert probability_best(alpha, beta) == pytest.approx(simulated, abs=0.002)  # MC sd is < 0.0002


def test_the_same_user_and_window_get_the_same_decision_and_its_probability():
    shares = assignment_probabilities(CONFIG, ARMS, {"warm": (1000, 80), "original": (1000, 50)})
    hour = CONFIG.decision_window_s
    first = [choose(shares, decision_draw("exp", f"u{i}", 10.0, hour)) for i in range(300)]
    assert first == [choose(shares, decision_draw("exp", f"u{i}", 3000.0, hour)) for i in range(300)]  # same hour
    assert first != [choose(shares, decision_draw("exp", f"u{i}", 10.0 + hour, hour)) for i in range(300)]
    assert first != [choose(shares, decision_draw("other", f"u{i}", 10.0, hour)) for i in range(300)]
    assert all(probability == shares[arm] for arm, probability in first)


def test_hashed_decisions_follow_the_probabilities():
    shares = {"original": 0.2, "warm": 0.7, "cool": 0.1}
    chosen = [choose(shares, decision_draw("exp", f"u{i}", 0.0, 3600.0))[0] for i in range(10_000)]
    observed = np.array([chosen.count(arm) for arm in shares]) / len(chosen)
    # 4 binomial standard deviations at n = 10,000 are at most 0.02.
    assert observed == pytest.approx(list(shares.values()), abs=0.02)


def test_an_arm_of_share_zero_is_never_chosen_even_at_the_edges():
    shares = {"original": 0.5, "warm": 0.5, "cool": 0.0}
    assert choose(shares, 0.0)[0] == "original"
    assert choose(shares, 0.5)[0] == "warm"
    assert choose(shares, np.nextafter(1.0, 0.0))[0] == "warm"


def test_the_winner_rule_needs_a_clear_posterior_and_enough_exposures():
    clear = {"original": (20_000, 1000), "warm": (20_000, 1300), "cool": (20_000, 1000)}
    assert winner(CONFIG, ARMS, clear)["winner"] == "warm"
    thin = {**clear, "cool": (150, 7)}  # under min_exposures (200)
    assert winner(CONFIG, ARMS, thin)["winner"] is None
    close = {"original": (20_000, 1000), "warm": (20_000, 1030), "cool": (20_000, 1000)}
    assert winner(CONFIG, ARMS, close)["winner"] is None
    original_best = {"original": (20_000, 1300), "warm": (20_000, 1000), "cool": (20_000, 1000)}
    verdict = winner(CONFIG, ARMS, original_best)
    assert verdict["winner"] is None and verdict["probability_best"]["original"] > 0.99


def test_srm_passes_a_log_that_follows_its_probabilities_and_flags_one_that_does_not():
    rng = np.random.default_rng(1)
    n = 6000
    logged = np.repeat([[0.2, 0.7, 0.1], [0.2, 0.4, 0.4]], n // 2, axis=0)  # probabilities changed halfway
    honest = (rng.random(n)[:, None] > np.cumsum(logged, axis=1)).sum(axis=1)
    assert not bandit_srm(DecisionLog(ARMS, honest, None, np.zeros(n), probabilities=logged))["mismatch"]
    served = np.repeat([[0.2, 0.7, 0.1]], n, axis=0)  # the probabilities were logged but never applied
    broken = (rng.random(n)[:, None] > np.cumsum(served, axis=1)).sum(axis=1)
    check = bandit_srm(DecisionLog(ARMS, broken, None, np.zeros(n), probabilities=logged))
    assert check["mismatch"] and check["expected"] == pytest.approx([1200, 3300, 1500])


def test_srm_counts_a_shoppers_repeat_decisions_on_one_draw_as_one():
    """40 shoppers, 25 decisions each on their one draw (decision_draw keeps it an hour): Pearson's test on the
    1,000 decisions flagged honest traffic; the test by shopper does not, and still flags a bandit that ignores
    its probabilities."""
    logged = np.repeat([[0.2, 0.4, 0.4]], 1000, axis=0)
    shoppers = np.repeat(np.arange(40), 25)
    false_alarms = {"pearson": 0, "by shopper": 0}
    for seed in range(20):
        draw = np.random.default_rng(seed).random(40)[shoppers]  # one draw per shopper, repeated
        honest = (draw[:, None] > np.cumsum(logged, axis=1)).sum(axis=1)
        false_alarms["pearson"] += bandit_srm(DecisionLog(ARMS, honest, None, np.zeros(1000),
                                                          probabilities=logged))["mismatch"]
        false_alarms["by shopper"] += bandit_srm(DecisionLog(ARMS, honest, None, np.zeros(1000), probabilities=logged,
                                                             cluster=shoppers))["mismatch"]
    assert false_alarms["by shopper"] == 0 and false_alarms["pearson"] >= 5
    ignored = np.where(np.random.default_rng(0).random(40)[shoppers] < 0.7, 1, 2)  # never the first arm
    check = bandit_srm(DecisionLog(ARMS, ignored, None, np.zeros(1000), probabilities=logged, cluster=shoppers))
    assert check["mismatch"]


def test_srm_needs_every_arms_probability():
    log = DecisionLog(ARMS, ["warm", "cool"], [0.5, 0.5], [0, 1])
    with pytest.raises(ExperimentError, match="every arm's logging probability"):
        bandit_srm(log)


def test_aa_segments_seldom_get_a_winner():
    lab = BanditLab(arms=2, segments=60, exposures_per_segment=4000, batch_size=500, seed=7)
    rng = np.random.default_rng(lab.seed)
    aa = run_bandit(lab, aa_rates(lab, rng), rng)
    assert np.mean(declared_winners(lab, aa) >= 0) <= 0.05


def test_the_lab_is_reproducible():
    lab = BanditLab(segments=5, exposures_per_segment=1000, batch_size=250, seed=4)
    first, again = (run_bandit(lab, aa_rates(lab, rng), rng) for rng in
                    (np.random.default_rng(lab.seed), np.random.default_rng(lab.seed)))
    assert np.array_equal(first.shown, again.shown) and np.array_equal(first.shares, again.shares)


def test_the_lab_meets_the_bars_on_a_small_run():
    results = simulate_bandit(BanditLab(segments=20, exposures_per_segment=3000, batch_size=500, seed=2))
    assert results["best_arm_found_rate"] >= 0.8  # 3000 exposures is far fewer than the documented 10,000
    assert results["aa_false_winner_rate"] <= 0.05
    assert results["ips_error"] <= 0.015
    assert results["regret_share"] < results["fixed_split_regret_share"]


@pytest.mark.parametrize("config, arms, message", [
    (BanditConfig(control_share=1.5), ARMS, r"control_share must be a share in \[0, 1\); got 1.5"),
    (BanditConfig(min_share=-0.1), ARMS, r"min_share must be a share in \[0, 1\); got -0.1"),
    (BanditConfig(prior_alpha=0), ARMS, r"prior_alpha must be a number > 0; got 0"),
    (BanditConfig(control_arm="nope"), ARMS, r"control_arm must be one of the arms .*; got 'nope'"),
    (BanditConfig(control_share=0.9, min_share=0.1), ARMS, r"at most 1; got 0.9 \+ 0.1 x 2 = 1.1"),
    (CONFIG, ("original",), r"at least 2 distinct arms; got \['original'\]"),
])
def test_bad_configs_are_refused_saying_what_was_given_and_expected(config, arms, message):
    with pytest.raises(ExperimentError, match=message):
        assignment_probabilities(config, arms, {})


@pytest.mark.parametrize("counts, message", [
    ({"warm": (10, 11)}, r"counts\['warm'\] must be \(exposures, clicks\).*got \(10, 11\)"),
    ({"warm": (-1, 0)}, r"counts\['warm'\] must be .*got \(-1, 0\)"),
    ({"hot": (10, 1)}, r"unknown arm\(s\) \['hot'\]; expected some of"),
])
def test_bad_counts_are_refused(counts, message):
    with pytest.raises(ExperimentError, match=message):
        assignment_probabilities(CONFIG, ARMS, counts)


@pytest.mark.parametrize("shares, draw, message", [
    ({"a": 0.5, "b": 0.6}, 0.1, "summing to 1"),
    ({"a": 1.0}, 1.0, r"draw must be in \[0, 1\); got 1.0"),
])
def test_bad_choices_are_refused(shares, draw, message):
    with pytest.raises(ExperimentError, match=message):
        choose(shares, draw)


def test_a_draw_needs_a_positive_window():
    with pytest.raises(ExperimentError, match=r"window_s a number of seconds > 0; got 10.0, 0"):
        decision_draw("exp", "u1", 10.0, 0)


def test_the_exposures_a_bandit_needs_grow_as_the_arms_draw_closer():
    far = best_arm_found_by_exposures([0.05, 0.03, 0.15], [3_000], segments=10)["budgets"][0]
    assert far == {"exposures_per_segment": 3_000, "most_played_is_best": 1.0, "leader_is_best": 1.0}
    near = best_arm_found_by_exposures([0.05, 0.0500, 0.0505], [3_000], segments=10)["budgets"][0]
    assert near["most_played_is_best"] < 0.9  # a 1 % relative gap cannot be told at this budget
    with pytest.raises(ExperimentError, match=r"in \[0, 1\], the control's first, one of them the highest"):
        best_arm_found_by_exposures([0.05, 0.06, 0.06], [1_000])


def test_simulate_bandit_command_prints_every_budget():
    from click.testing import CliRunner

    from service.cli import main
    result = CliRunner().invoke(main, ["simulate-bandit", "--rates", "0.05,0.2", "--exposures", "1000,2000",
                                       "--segments", "4", "--json"])
    assert result.exit_code == 0, result.output
    assert [row["exposures_per_segment"] for row in json.loads(result.output)["budgets"]] == [1000, 2000]
    refused = CliRunner().invoke(main, ["simulate-bandit", "--rates", "0.05,lots"])
    assert refused.exit_code == 2 and "expected comma-separated numbers" in refused.output
