"""The oracle ceiling: the recommend contract, and ranking by the simulator's own probabilities."""
from features.simulator import SimulatorConfig, simulate
from features.simulator_truth import PurchaseTruth
from lab.baselines import PopularityRecommender
from lab.oracle import OracleRecommender, PosteriorOracleRecommender
from recsys.evaluation import evaluate, time_split
from recsys_helpers import tiny_catalogue
from test_recommender import SHOES, WATCHES, ContractTests
from truth_helpers import hand_truth, taste

START = 1.7e9  # events_frame's start


class TestOracle(ContractTests):
    """The shoe lovers (s*) and watch lovers (w*) of the contract tests, with those tastes as ground truth."""

    def make(self):
        tastes = [taste(f"s{i}", "Women", "Shoes|Shoes|Shoes", "Red|Blue", "Casual") for i in range(6)] + \
                 [taste(f"w{i}", "Men", "Watches|Watches|Watches", "Black|Blue", "Sports") for i in range(6)]
        return OracleRecommender(hand_truth(tastes), START, START + 100 * 3600.0)

    def test_recommends_from_the_hidden_taste(self, model):
        assert set(model.recommend("w2", n=6, filter_already_bought=False).item_ids.tolist()) == set(WATCHES)
        assert set(model.recommend("s1", n=5).item_ids.tolist()) <= set(SHOES)  # five: s1 bought SHOES[0]


def test_the_ceiling_beats_popularity_on_a_tiny_simulation():
    catalogue = tiny_catalogue()
    simulation = simulate(catalogue, SimulatorConfig(n_users=400, seed=2))
    split = time_split(simulation.events)
    truth = PurchaseTruth.from_simulation(simulation, catalogue.products)
    oracle = OracleRecommender(truth, split.split_time, truth.period[1]).fit(split.train)
    popularity = PopularityRecommender(truth.item_ids).fit(split.train)
    oracle_map, popularity_map = (evaluate(model, split, k=12)["map"].mean() for model in (oracle, popularity))
    assert oracle_map > 1.5 * popularity_map


class TestPosteriorOracle(ContractTests):
    """The same shoe and watch lovers, but only their events count: the hand tastes are never read."""

    def make(self):
        truth = hand_truth([taste("x", "Men", "Tshirts|Tshirts|Tshirts", "Red|Red", "Casual")])
        return PosteriorOracleRecommender(truth, START, START + 100 * 3600.0, samples=2000)

    def test_recommends_what_the_events_point_to(self, model):
        assert set(model.recommend("w2", n=3).item_ids.tolist()) <= set(WATCHES)
        assert set(model.recommend("s1", n=3).item_ids.tolist()) <= set(SHOES)
