"""The events posterior: the simulator's purchase probabilities averaged over its taste prior, given events."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.simulator import SimulatorConfig, _draw_tastes, _taste_cell, _tastes_table, simulate
from features.simulator_evidence import Evidence
from features.simulator_posterior import EventsPosterior
from features.simulator_truth import PurchaseTruth, TruthError
from recsys_helpers import events_frame, tiny_catalogue, tiny_products
from test_recommender import WATCHES
from truth_helpers import hand_truth, taste

PRODUCTS = tiny_products()
TRUTH = hand_truth([taste("a", "Women", "Shoes|Shoes|Shoes", "Red|Red", "Sports")])
WINDOW = TRUTH.period
MEN_WATCHES = ((PRODUCTS["gender"] == "Men") & (PRODUCTS["articleType"] == "Watches")).to_numpy()


@pytest.fixture(scope="module")
def posterior():
    return EventsPosterior(TRUTH, samples=4000, seed=3)


def predictive(posterior, rows) -> np.ndarray:
    """Purchase probabilities of user 'v' given events (user 'v', item, type, hours[, query])."""
    return next(posterior.batches(events_frame(rows), ["v"], *WINDOW))[1][0]


def test_without_events_the_answer_is_the_mean_over_the_prior(posterior):
    config = dataclasses.replace(TRUTH.config, n_users=4000)
    prior = _tastes_table(TRUTH.space, _draw_tastes(TRUTH.space, config, np.random.default_rng(3)), config)
    truth = PurchaseTruth(PRODUCTS, prior, pd.Series(TRUTH.popularity, index=TRUTH.item_ids), config)
    mean = sum(p.sum(axis=0) for _, p in truth.batches(prior["user_id"], *WINDOW, batch_size=1000)) / 4000
    assert predictive(posterior, []) == pytest.approx(mean)


def test_a_view_moves_probability_toward_its_gender_and_type_a_click_further(posterior):
    before = predictive(posterior, [])[MEN_WATCHES].sum()
    viewed = predictive(posterior, [("v", WATCHES[0], "view", 0)])[MEN_WATCHES].sum()
    clicked = predictive(posterior, [("v", WATCHES[0], "view", 0), ("v", WATCHES[0], "click", 0)])[MEN_WATCHES].sum()
    assert before < viewed < clicked


def test_a_dislike_says_nothing_and_a_search_names_gender_and_type(posterior):
    disliked = [("v", WATCHES[0], "view", 0), ("v", WATCHES[0], "dislike", 0)]
    assert predictive(posterior, disliked) == pytest.approx(predictive(posterior, []))
    searched = predictive(posterior, [("v", -1, "view", 0, "Men Watches")])
    assert searched[MEN_WATCHES].sum() > 2 * predictive(posterior, [])[MEN_WATCHES].sum()
    assert searched[(PRODUCTS["gender"] == "Women").to_numpy()].sum() == 0


def test_weights_are_normalised_and_users_without_events_keep_the_prior(posterior):
    events = events_frame([("v", WATCHES[0], "purchase", 0), ("w", WATCHES[1], "view", 1)])
    weights = posterior.weights(Evidence.of(events, ["v", "nobody", "w"], TRUTH.space), 3)
    assert weights.shape == (3, 4000) and (weights >= 0).all()
    assert weights.sum(axis=1) == pytest.approx(np.ones(3))
    assert weights[1] == pytest.approx(np.full(4000, 1 / 4000))
    assert (weights[0] == 0).sum() > 2000  # a purchase is on-taste: tastes without men's watches cannot make it


def test_unknown_searches_and_products_are_refused(posterior):
    with pytest.raises(TruthError, match="'blue hats'"):
        predictive(posterior, [("v", -1, "view", 0, "blue hats")])
    with pytest.raises(TruthError, match="outside the simulated catalogue"):
        predictive(posterior, [("v", 7, "view", 0)])
    with pytest.raises(TruthError, match="at least one"):
        EventsPosterior(TRUTH, samples=0)


def direct_log_likelihood(posterior, evidence, user: int, s: int) -> float:
    """log P(user's events | sampled taste s) evaluated view by view from the simulator's description."""
    truth, t, config = posterior.truth, posterior.tastes, posterior.truth.config
    ts, pi = config.taste_strength, truth.popularity / truth.popularity.sum()
    colours = [(c, config.colour_affinity / 2) for c in t["colours"][s]] + \
        [(truth.space.wildcard("baseColour"), 1 - config.colour_affinity)]
    usages = [(t["usage"][s], config.usage_affinity), (truth.space.wildcard("usage"), 1 - config.usage_affinity)]

    space, cells, gender = truth.space, truth.cells, t["gender"][s]

    def q(mission, item):
        return sum(w_c * w_u * truth.in_cell[_taste_cell(space, cells, gender, mission, c, u), item]
                   for c, w_c in colours for u, w_u in usages)

    total = 0.0
    for j in np.flatnonzero(evidence.sessions["user"] == user):
        time, views = evidence.sessions["time"][j], evidence.views[evidence.views["session"] == j]
        searches = evidence.queries[evidence.queries["session"] == j]
        chance = 0.0
        for k in range(3):
            mission = t["later_types"][s, k] if time >= t["drift_at"][s] else t["types"][s, k]
            views_chance = np.prod([
                (ts * (1 - config.click_rate) * q(mission, i) + (1 - ts) * (1 - config.dislike_rate) * pi[i]) ** plain
                * (ts * q(mission, i)) ** sure for i, plain, sure in views[["item", "plain", "on_taste"]].to_numpy()])
            searched = all(g == t["gender"][s] and a == mission
                           for g, a in searches[["gender", "article_type"]].to_numpy())
            chance += views_chance * searched / 3
        total += np.log(chance)
    return total


def test_the_likelihood_is_the_simulators_view_by_view():
    catalogue = tiny_catalogue()
    simulation = simulate(catalogue, SimulatorConfig(n_users=60, seed=5, drift_rate=1.0, query_rate=0.5))
    posterior = EventsPosterior(PurchaseTruth.from_simulation(simulation, catalogue.products), samples=12)
    users = simulation.tastes["user_id"][:6].tolist()
    evidence = Evidence.of(simulation.events, users, posterior.truth.space)
    fast = posterior.log_likelihood(evidence, len(users))
    with np.errstate(divide="ignore"):
        direct = np.array([[direct_log_likelihood(posterior, evidence, u, s) for s in range(12)] for u in range(6)])
    assert np.isinf(fast).tolist() == np.isinf(direct).tolist() and np.isinf(fast).any() and np.isfinite(fast).any()
    finite = np.isfinite(fast)
    gaps = [fast[u, finite[u]] - direct[u, finite[u]] for u in range(6)]
    assert all(np.ptp(gap) < 1e-9 for gap in gaps if len(gap))  # equal up to a constant per user
