"""Assignment: deterministic, sticky, balanced, layers exclusive, weight changes move nobody assigned."""
import numpy as np
import pytest

from recsys.experiments import (Experiment, ExperimentError, InMemoryAssignments, change_weights, hashed_arm,
                                start_experiment, sticky_arm)
from recsys.experiments.assignment import rebalanced_bucket_arms

USERS = [f"user-{i}" for i in range(20_000)]


def running(name="exp", weights=(1, 1), others=(), **kwargs):
    arms = [{"name": f"arm{i}", "weight": w} for i, w in enumerate(weights)]
    return start_experiment(Experiment(name, arms, **kwargs), list(others), now=0.0)


def shares(arms, names):
    arms = list(arms)
    return np.array([arms.count(name) / len(arms) for name in names])


def test_assignment_is_deterministic_across_stores_and_calls():
    experiment = running()
    first = [sticky_arm(experiment, u, InMemoryAssignments(), 0.0) for u in USERS[:500]]
    again = [hashed_arm(experiment, u) for u in USERS[:500]]
    assert first == again
    other_salt = running(salt="other-salt")
    assert [hashed_arm(other_salt, u) for u in USERS[:500]] != first  # the salt matters


@pytest.mark.parametrize("weights", [(1, 1), (5, 3, 2)])
def test_assignment_is_balanced_within_tolerance(weights):
    experiment = running(weights=weights)
    observed = shares((hashed_arm(experiment, u) for u in USERS), experiment.arm_names)
    expected = np.array(weights) / sum(weights)
    # 3 binomial standard deviations at n = 20,000 is at most 0.011.
    assert np.all(np.abs(observed - expected) < 0.011), (observed, expected)


def test_weight_change_keeps_every_assigned_user_and_moves_newcomers_only():
    experiment = running()
    store = InMemoryAssignments()
    before = {u: sticky_arm(experiment, u, store, 0.0) for u in USERS[:10_000]}
    changed = change_weights(experiment, (9, 1), now=100.0)
    after = {u: sticky_arm(changed, u, store, 200.0) for u in USERS[:10_000]}
    assert after == before
    newcomers = shares((sticky_arm(changed, u, store, 200.0) for u in USERS[10_000:]), changed.arm_names)
    assert abs(newcomers[0] - 0.9) < 0.02
    assert changed.weight_history == ((0.0, (1.0, 1.0)), (100.0, (9, 1)))


def test_rebalancing_moves_only_the_buckets_the_new_weights_need():
    old = running().bucket_arms
    new = rebalanced_bucket_arms(old, (9, 1))
    moved = [(a, b) for a, b in zip(old, new) if a != b]
    assert len(moved) == 4000  # 50% -> 90% of 10,000 buckets
    assert set(moved) == {(1, 0)}
    assert rebalanced_bucket_arms(new, (9, 1)) == new


def test_experiments_in_one_layer_never_share_a_user_and_a_full_layer_refuses():
    first = running("first", population={"traffic": 0.5})
    second = running("second", population={"traffic": 0.5}, others=[first])
    in_first = {u for u in USERS if hashed_arm(first, u)}
    in_second = {u for u in USERS if hashed_arm(second, u)}
    assert not in_first & in_second
    assert abs(len(in_first) / len(USERS) - 0.5) < 0.02 and abs(len(in_second) / len(USERS) - 0.5) < 0.02
    with pytest.raises(ExperimentError, match="layer 'cards' has no free run"):
        running("third", population={"traffic": 0.1}, others=[first, second])


def test_experiments_in_different_layers_overlap_independently():
    first = running("first", population={"traffic": 0.5})
    other = running("other", population={"traffic": 0.5}, slot="search", layer="search", others=[first])
    both = sum(1 for u in USERS if hashed_arm(first, u) and hashed_arm(other, u))
    assert abs(both / len(USERS) - 0.25) < 0.02


def test_a_second_experiment_on_a_slot_is_refused_in_another_layer():
    """Its cards show one arm: the first experiment would take every shopper the two share, the second none (a
    walk-through started one in layer 'ab' beside one in 'cards', and it ran with 0 exposures)."""
    first = running("first")
    with pytest.raises(ExperimentError, match=r"slot 'cards' is already tested by the running experiment 'first'"):
        running("other", layer="ab", others=[first])
    with pytest.raises(ExperimentError, match=r"smaller share \(population.traffic\)"):
        running("same-layer", others=[first])  # the layer is full: the message says what helps
    assert running("shared", population={"traffic": 0.5}, others=[running("half", population={"traffic": 0.5})])


def test_population_segments_and_status_gate_assignment():
    experiment = running(population={"segments": [3]})
    assert hashed_arm(experiment, "u1", segment=2) is None
    assert hashed_arm(experiment, "u1", segment=3) is not None
    draft = Experiment("draft", [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}])
    assert sticky_arm(draft, "u1", InMemoryAssignments(), 0.0) is None
    assert sticky_arm(experiment.stopped(5.0), "u1", InMemoryAssignments(), 0.0) is None


@pytest.mark.parametrize("arms, message", [
    ([{"name": "a", "weight": 1}], "at least 2 arms"),
    ([{"name": "a", "weight": 1}, {"name": "a", "weight": 1}], r"\['a'\] repeated"),
    ([{"name": "a", "weight": -1}, {"name": "b", "weight": 1}], r"arms\[0\].weight"),
    ([{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "image_policy": "sepia"}], r"arms\[1\].image_policy"),
    ([{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "image_policy": "variant_params"}],
     r"arms\[1\].image_policy .* presentation"),
    ([{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "generator_params": {"guidance": 4}}],
     r"arms\[1\].generator_params are gone: name the generator settings in arms\[1\].presentation"),
    ([{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "image_policy": "original",
                                   "presentation": {"kind": "scene"}}], "contradicts presentation.kind"),
    ([{"name": "a", "weight": 1}, {"name": "b", "colour": 1}], r"unknown field\(s\) \['colour'\]"),
])
def test_bad_definitions_name_the_field(arms, message):
    with pytest.raises(ExperimentError, match=message):
        Experiment("bad", arms).check_inputs()


def test_weights_of_a_stopped_experiment_cannot_change_and_counts_must_match():
    experiment = running()
    with pytest.raises(ExperimentError, match="expected 2 weights"):
        change_weights(experiment, (1, 1, 1), now=1.0)
    with pytest.raises(ExperimentError, match="stopped"):
        change_weights(experiment.stopped(2.0), (1, 2), now=3.0)


def test_experiment_round_trips_through_its_dict():
    experiment = running(weights=(2, 1), hypothesis="variants lift CTR", guardrails=["conversion_rate"])
    assert Experiment.from_dict(experiment.to_dict()) == experiment
