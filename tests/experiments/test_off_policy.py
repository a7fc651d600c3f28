"""Off-policy estimates: hand-computed values, unbiasedness and coverage on logs of known truth, DR's variance."""
import numpy as np
import pytest

from recsys.experiments import ExperimentError
from recsys.experiments.off_policy import DecisionLog, doubly_robust, ips, off_policy_estimates, snips
from recsys.experiments.stats import clustered_mean_and_variance, mean_and_variance

ARMS = ("original", "warm", "cool")
# True click rates per (segment, arm): segments differ a lot, which a per-segment reward model captures.
RATES = np.array([[0.05, 0.10, 0.02],
                  [0.85, 0.90, 0.70]])


def synthetic_log(rng, n=2000, rates=RATES):
    """Segments drawn evenly; logging probabilities differ per decision (as a bandit's do), floor 0.05."""
    context = rng.integers(0, len(rates), n)
    probabilities = 0.05 + (1 - 0.05 * len(ARMS)) * rng.dirichlet(np.ones(len(ARMS)), n)
    shown = (rng.random(n)[:, None] > np.cumsum(probabilities, axis=1)).sum(axis=1)
    shown = np.minimum(shown, len(ARMS) - 1)  # a draw above a row sum rounded below 1
    reward = (rng.random(n) < rates[context, shown]).astype(float)
    return DecisionLog(ARMS, shown, None, reward, probabilities=probabilities, context=context)


@pytest.fixture(scope="module")
def repeated_estimates():
    """Estimates of the 'warm' arm and of a 50/50 policy over original and warm, from 150 seeded logs."""
    rng = np.random.default_rng(0)
    logs = [synthetic_log(rng) for _ in range(150)]
    return {target: [off_policy_estimates(log, _target(target)) for log in logs]
            for target in ("warm", "half")} | {"logs": logs}


def _target(name):
    return {"original": 0.5, "warm": 0.5} if name == "half" else name


TRUTH = {"warm": RATES[:, 1].mean(), "half": RATES[:, :2].mean()}


@pytest.mark.parametrize("target", ["warm", "half"])
@pytest.mark.parametrize("method", ["ips", "snips", "dr"])
def test_estimates_are_unbiased_and_their_intervals_cover_the_truth(repeated_estimates, target, method):
    estimates = [run[method] for run in repeated_estimates[target]]
    values = np.array([e.value for e in estimates])
    mean_se = np.mean([e.se for e in estimates])
    # The mean of 150 independent estimates is within 4 standard errors of the truth (SNIPS's bias is O(1/n)).
    assert abs(values.mean() - TRUTH[target]) < 4 * mean_se / np.sqrt(len(values))
    covered = np.mean([e.interval[0] <= TRUTH[target] <= e.interval[1] for e in estimates])
    assert 0.88 <= covered <= 0.995  # 95 % intervals; 150 runs give a binomial sd of 0.018
    assert values.std() == pytest.approx(mean_se, rel=0.25)  # the reported se is the spread it claims


def test_clustered_variance_by_hand():
    values = np.array([1.0, 1.0, 0.0, 0.0])
    # Deviations from the mean 0.5 summed per cluster: +1 and -1; (1 + 1) / 4^2, times G / (G - 1) = 2.
    assert clustered_mean_and_variance(values, ["a", "a", "b", "b"]) == (0.5, pytest.approx(0.25))
    alone = clustered_mean_and_variance(values, [0, 1, 2, 3])  # clusters of one: the plain variance x 4 / 3
    assert alone[1] == pytest.approx(mean_and_variance(values)[1] * 4 / 3)


def sticky_log(rng, users=400, visits=5, cluster=True):
    """A bandit that keeps each shopper's draw: every visit of a user shows the arm drawn once for that user."""
    context = np.repeat(rng.integers(0, len(RATES), users), visits)
    probabilities = np.repeat(0.05 + (1 - 0.05 * len(ARMS)) * rng.dirichlet(np.ones(len(ARMS)), users), visits, axis=0)
    draw = np.repeat(rng.random(users), visits)
    shown = np.minimum((draw[:, None] > np.cumsum(probabilities, axis=1)).sum(axis=1), len(ARMS) - 1)
    reward = (rng.random(users * visits) < RATES[context, shown]).astype(float)
    return DecisionLog(ARMS, shown, None, reward, probabilities=probabilities, context=context,
                       cluster=np.repeat(np.arange(users), visits) if cluster else None)


@pytest.mark.parametrize("method", ["ips", "snips", "dr"])
def test_intervals_count_one_shoppers_decisions_as_one_draw(method):
    """Decisions taken as independent give intervals too narrow when a shopper's visits share a draw; summing the
    terms per shopper (the cluster) gives back 95 %."""
    rng = np.random.default_rng(3)
    logs = [sticky_log(rng) for _ in range(150)]
    coverage = {}
    for clustered in (True, False):
        estimates = [off_policy_estimates(log if clustered else DecisionLog(
            log.arms, log.shown, None, log.reward, probabilities=log.probabilities, context=log.context), "warm")[method]
            for log in logs]
        coverage[clustered] = np.mean([e.interval[0] <= TRUTH["warm"] <= e.interval[1] for e in estimates])
    assert 0.88 <= coverage[True] <= 0.995 and coverage[False] < 0.85, coverage


def test_doubly_robust_has_lower_variance_than_ips_with_a_good_reward_model(repeated_estimates):
    for target in ("warm", "half"):
        spread = {m: np.std([run[m].value for run in repeated_estimates[target]]) for m in ("ips", "dr")}
        assert spread["dr"] < 0.7 * spread["ips"], spread  # about 0.5 (warm) and 0.6 (half) here


def test_a_given_reward_model_is_used_and_the_truth_as_model_is_best(repeated_estimates):
    log = repeated_estimates["logs"][0]
    exact = RATES[log.context]  # (decisions, arms): the true rates as the reward model
    with_truth = doubly_robust(log, "warm", reward_model=exact)
    fitted = doubly_robust(log, "warm")
    assert with_truth.se < fitted.se
    useless = doubly_robust(log, "warm", reward_model=np.zeros_like(exact))
    assert useless.value == pytest.approx(ips(log, "warm").value)  # with q = 0, DR is IPS


def test_hand_computed_values():
    log = DecisionLog(ARMS, ["warm", "warm", "original", "cool"], [0.5, 0.25, 0.2, 0.3], [1, 0, 1, 0])
    assert ips(log, "warm").value == pytest.approx((1 / 0.5 + 0) / 4)
    # SNIPS: sum(w r) / sum(w) = 2 / (2 + 4).
    assert snips(log, "warm").value == pytest.approx(2 / 6)
    # DR with one fold fitted on the whole log: per-arm means shrunk towards the overall mean 0.5 by 10
    # pseudo-decisions, for 'warm' (1 + 10 x 0.5) / (2 + 10) = 0.5, so DR = 0.5 + mean(w (r - 0.5)).
    expected = 0.5 + (2 * 0.5 + 4 * -0.5) / 4
    assert doubly_robust(log, "warm", folds=1).value == pytest.approx(expected)


def test_propensity_is_read_from_the_probabilities_when_not_given():
    log = DecisionLog(ARMS, ["warm", "cool"], None, [1, 0], probabilities=[[0.2, 0.5, 0.3], [0.2, 0.5, 0.3]])
    assert log.propensity.tolist() == [0.5, 0.3]


@pytest.mark.parametrize("kwargs, message", [
    (dict(propensity=[0.5, 0.0]), r"must be in \(0, 1\]; decision 1 has 0.0"),
    (dict(propensity=[1.5, 0.5]), r"must be in \(0, 1\]; decision 0 has 1.5"),
    (dict(propensity=[float("nan"), 0.5]), r"must be in \(0, 1\]; decision 0 has nan"),
    (dict(shown=["warm", "hot"]), r"unknown arm\(s\) \['hot'\]; expected one of \['original', 'warm', 'cool'\]"),
    (dict(shown=[0, 3]), r"index 3 is not among the 3 arms"),
    (dict(shown=[], propensity=[], reward=[]), "the decision log is empty"),
    (dict(reward=[1, 2]), r"reward must be 0 or 1 per decision; got \[1.0, 2.0\]"),
    (dict(reward=[1]), r"reward must have one value per decision \(2\); got shape \(1,\)"),
    (dict(propensity=None), "needs the shown arm's probability"),
    (dict(propensity=None, probabilities=[[0.5, 0.5, 0.5]] * 2), "summing to 1"),
    (dict(propensity=[0.4, 0.5], probabilities=[[0.2, 0.5, 0.3]] * 2), "propensity disagrees"),
    (dict(cluster=["shopper-1"]), r"cluster must have one value per decision \(2\); got shape \(1,\)"),
])
def test_bad_logs_are_refused_saying_what_was_given_and_expected(kwargs, message):
    fields = dict(arms=ARMS, shown=["warm", "cool"], propensity=[0.5, 0.5], reward=[1, 0]) | kwargs
    with pytest.raises(ExperimentError, match=message):
        DecisionLog(**fields)


@pytest.mark.parametrize("target, message", [
    ("hot", r"the target names unknown arm\(s\) \['hot'\]; expected one of"),
    ({"warm": 0.7, "cool": 0.7}, "summing to 1"),
    ("original", "no logged decision shows an arm the target policy would have picked"),
])
def test_bad_targets_are_refused(target, message):
    log = DecisionLog(ARMS, ["warm", "cool"], [0.5, 0.5], [1, 0])
    with pytest.raises(ExperimentError, match=message):
        off_policy_estimates(log, target)


def test_a_target_the_logger_could_never_pick_is_refused():
    log = DecisionLog(ARMS, ["warm", "cool"], None, [1, 0], probabilities=[[0.0, 0.5, 0.5]] * 2)
    with pytest.raises(ExperimentError, match="logging probability 0"):
        ips(log, {"original": 0.5, "warm": 0.5})
