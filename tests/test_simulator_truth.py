"""The simulator's ground truth: purchase probabilities as features.simulator draws purchases."""
import dataclasses

import numpy as np
import pytest

from features.simulator import SimulatorConfig, simulate
from features.simulator_truth import PurchaseTruth, TruthError
from recsys_helpers import tiny_catalogue, tiny_products
from truth_helpers import hand_truth, taste

PRODUCTS = tiny_products()
SHOE_LOVER = taste("a", "Women", "Shoes|Shoes|Shoes", "Red|Red", "Sports", later_types="Watches|Shoes|Shoes",
                   drift_at=50.0)
MAN = taste("b", "Men", "Tshirts|Watches|Tshirts", "Blue|Black", "Casual")


def product(**attributes) -> int:
    mask = np.logical_and.reduce([PRODUCTS[column] == value for column, value in attributes.items()])
    return PRODUCTS.index.get_loc(PRODUCTS.index[mask][0])


def probabilities(truth, user_ids, start, end) -> np.ndarray:
    return np.vstack([p for _, p in truth.batches(user_ids, start, end, batch_size=2)])


def test_probabilities_sum_to_one_per_user_over_products():
    simulation = simulate(tiny_catalogue(), SimulatorConfig(n_users=50, seed=1, drift_rate=0.5))
    truth = PurchaseTruth.from_simulation(simulation, tiny_catalogue().products)
    start, end = truth.period
    for window in ((start, end), (start + 0.8 * (end - start), end), (end, end)):
        assert probabilities(truth, simulation.tastes["user_id"], *window).sum(axis=1) == pytest.approx(np.ones(50))


def test_other_gender_and_types_get_nothing_other_colours_and_usages_less():
    p = probabilities(hand_truth([MAN]), ["b"], 0.0, 100.0)[0]
    women, shoes = (PRODUCTS["gender"] == "Women").to_numpy(), (PRODUCTS["articleType"] == "Shoes").to_numpy()
    assert (p[women | shoes] == 0).all()
    liked = p[product(gender="Men", articleType="Tshirts", baseColour="Blue", usage="Casual")]
    other_colour = p[product(gender="Men", articleType="Tshirts", baseColour="Red", usage="Casual")]
    other_usage = p[product(gender="Men", articleType="Tshirts", baseColour="Blue", usage="Sports")]
    assert liked > other_colour > 0 and liked > other_usage > 0  # wildcard views still reach them


def test_one_products_probability_by_hand_and_drift_by_share_of_the_window():
    truth = hand_truth([SHOE_LOVER])
    watches = (PRODUCTS["articleType"] == "Watches").to_numpy()
    half = probabilities(truth, ["a"], 0.0, 100.0)[0]
    assert half[watches].sum() == pytest.approx(1 / 6)  # one slot of three, after drift for half the window
    in_cell = 0.6 * 0.7 * 1 + 0.6 * 0.3 / 2 + 0.4 * 0.7 / 3 + 0.4 * 0.3 / 6  # (Red, Sports) cascade, flat popularity
    red_sports_shoes = product(gender="Women", articleType="Shoes", baseColour="Red", usage="Sports")
    assert half[red_sports_shoes] == pytest.approx(5 / 6 * in_cell)
    assert probabilities(truth, ["a"], 60.0, 100.0)[0][watches].sum() == pytest.approx(1 / 3)
    assert probabilities(truth, ["a"], 0.0, 40.0)[0][watches].sum() == 0.0


def click_chi_square(truth, simulation) -> float:
    """Clicks are a random share of on-taste views, so they spread over products like purchases (more of them)."""
    clicks = simulation.events[simulation.events["type"] == "click"]
    expected = sum(p.sum(axis=0) for _, p in truth.batches(clicks["user_id"].to_numpy(), *truth.period, 4096))
    observed = clicks["item_id"].value_counts().reindex(truth.item_ids, fill_value=0).to_numpy()
    return float(((observed - expected) ** 2 / expected).sum())


def test_simulated_clicks_follow_the_probabilities():
    catalogue = tiny_catalogue()
    simulation = simulate(catalogue, SimulatorConfig(n_users=5000, seed=7, drift_rate=0.0, query_rate=0.0))
    truth = PurchaseTruth.from_simulation(simulation, catalogue.products)
    wrong = PurchaseTruth(catalogue.products, simulation.tastes, simulation.popularity,
                          dataclasses.replace(simulation.config, colour_affinity=0.3))
    degrees_of_freedom = len(truth.item_ids) - 1
    assert click_chi_square(truth, simulation) < 2 * degrees_of_freedom
    assert click_chi_square(wrong, simulation) > 4 * degrees_of_freedom  # the check can tell a wrong model


def test_unknown_users_bad_windows_and_other_catalogues_are_refused():
    truth = hand_truth([MAN])
    with pytest.raises(TruthError, match="never drew.*'nobody'"):
        probabilities(truth, ["b", "nobody"], 0.0, 1.0)
    with pytest.raises(TruthError, match="before it starts"):
        probabilities(truth, ["b"], 2.0, 1.0)
    with pytest.raises(TruthError, match="Sandals"):
        hand_truth([taste("c", "Men", "Sandals|Shoes|Shoes", "Blue|Red", "Casual")])
