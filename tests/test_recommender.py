"""Every model honours one contract (ContractTests); tailorcard's own behaviour below it."""
import numpy as np
import pytest

from lab.baselines import ALSRecommender, BuyAgainRecommender, ItemKNNRecommender, PopularityRecommender
from recsys.items import Items
from recsys.mmr import mmr_order
from recsys.recommender import Recommender, RecommenderConfig, RecommenderError
from recsys_helpers import attribute_vectors, events_frame, tiny_products

PRODUCTS = tiny_products()
IDS, VECTORS = PRODUCTS.index.to_numpy(), attribute_vectors(PRODUCTS)


def ids_where(**attributes) -> list[int]:
    mask = np.ones(len(PRODUCTS), bool)
    for column, value in attributes.items():
        mask &= (PRODUCTS[column] == value).to_numpy()
    return PRODUCTS.index[mask].tolist()


SHOES, WATCHES = ids_where(gender="Women", articleType="Shoes"), ids_where(gender="Men", articleType="Watches")


def training_events():
    """Shoe lovers (s*) and watch lovers (w*); a few products are popular with everyone."""
    rows, hour = [], 0
    for user, liked in [(f"s{i}", SHOES) for i in range(6)] + [(f"w{i}", WATCHES) for i in range(6)]:
        for item in liked[:4]:
            rows.append((user, item, "view", hour))
            hour += 1
        rows.append((user, liked[0], "purchase", hour))
    rows += [("s0", liked, "view", hour + 1) for liked in WATCHES[:1]]
    return events_frame(rows)


class ContractTests:
    def make(self):
        raise NotImplementedError

    @pytest.fixture
    def model(self):
        return self.make().fit(training_events())

    def test_returns_n_distinct_known_products_with_scores(self, model):
        result = model.recommend("s1", n=5)
        assert len(result) == 5 and len(set(result.item_ids.tolist())) == 5
        assert set(result.item_ids.tolist()) <= set(IDS.tolist())
        assert result.scores.shape == (5,) and np.all(np.isfinite(result.scores))

    def test_already_bought_is_filtered_unless_asked_not_to(self, model):
        assert SHOES[0] not in model.recommend("s1", n=len(IDS)).item_ids
        assert SHOES[0] in model.recommend("s1", n=len(IDS), filter_already_bought=False).item_ids

    def test_excluded_products_never_appear(self, model):
        excluded = set(SHOES[:3] + WATCHES[:3])
        assert not excluded & set(model.recommend("s1", n=len(IDS), filter_items=excluded).item_ids.tolist())

    def test_unknown_user_still_gets_products(self, model):
        assert len(model.recommend("stranger", n=4)) == 4

    def test_batch_matches_single_calls(self, model):
        many = model.recommend_many(["s1", "w1"], n=4)
        assert [m.item_ids.tolist() for m in many] == [model.recommend(u, n=4).item_ids.tolist() for u in ("s1", "w1")]

    def test_explain_gives_one_reason_list_per_product(self, model):
        result = model.recommend("s1", n=3, explain=True)
        assert len(result.explanations) == 3 and all(result.explanations)


class TestTailorcard(ContractTests):
    def make(self):
        # a small popularity weight: in a 36-product world one purchase makes a product "popular"
        return Recommender.from_vectors(IDS, VECTORS, config=RecommenderConfig(popularity_weight=0.1, mmr_lambda=1.0))

    def test_recommends_what_the_taste_is_near(self, model):
        top = model.recommend("w2", n=3).item_ids
        assert set(top.tolist()) <= set(WATCHES)

    def test_explanations_name_the_past_products_that_pulled_them_in(self, model):
        result = model.recommend("w2", n=2, explain=True)
        named = [reason["item_id"] for reasons in result.explanations for reason in reasons if "item_id" in reason]
        assert named and set(named) <= set(WATCHES[:4])
        assert all("popularity" in reasons[-1] for reasons in result.explanations)

    def test_explanations_name_search_queries(self, tiny_encoder):
        model = Recommender.from_vectors(IDS, VECTORS, encode_texts=tiny_encoder.encode_texts)
        model.fit(events_frame([("q", -1, "view", 0, "red shoes")]))
        reasons = model.recommend("q", n=2, explain=True).explanations[0]
        assert {"query": "red shoes"}.items() <= reasons[0].items()

    def test_cold_start_users_get_popular_products(self, model):
        popular = IDS[np.argsort(-model.items.popularity)[:2]]
        assert set(model.recommend("stranger", n=2).item_ids.tolist()) == set(popular.tolist())
        assert "cold_start" in model.recommend("stranger", n=1, explain=True).explanations[0][0]

    def test_out_of_stock_and_removed_products_disappear(self, model):
        first = model.recommend("w2", n=2).item_ids
        model.set_in_stock(int(first[0]), False)
        model.remove_item(int(first[1]))
        assert not set(first.tolist()) & set(model.recommend("w2", n=len(IDS)).item_ids.tolist())

    def test_a_new_product_can_be_added_and_found(self, model):
        model.upsert_item(777, VECTORS[IDS.tolist().index(WATCHES[1])])
        assert 777 in model.recommend("w2", n=len(IDS)).item_ids

    def test_a_shoppers_new_events_move_their_recommendations_at_once(self, model):
        assert set(model.recommend("newbie", n=3).item_ids.tolist()) - set(SHOES)
        bought = events_frame([("newbie", item, "purchase", i) for i, item in enumerate(SHOES[:3])])
        model.preferences.rebuild_users(bought.assign(event_id=["n0", "n1", "n2"]))  # as the service takes events
        assert set(model.recommend("newbie", n=3).item_ids.tolist()) <= set(ids_where(articleType="Shoes"))

    def test_bad_requests_are_clear_errors(self, model):
        with pytest.raises(RecommenderError, match="n must be at least 1"):
            model.recommend("s1", n=0)
        with pytest.raises(RecommenderError, match="mmr_lambda"):
            RecommenderConfig(mmr_lambda=2.0).check_inputs()


class TestCoVisitation:
    """Shoe shoppers who also looked at one particular watch: co-visitation carries that watch to a
    newcomer who has seen only a shoe, although in the image space it is nowhere near shoes."""

    WATCH = WATCHES[5]

    def make(self, covisit_weight: float):
        rows = [(f"c{i}", item, "view", i) for i in range(5) for item in (SHOES[0], self.WATCH)]
        rows += [("newbie", SHOES[0], "view", 10)]
        config = RecommenderConfig(popularity_weight=0.1, mmr_lambda=1.0, covisit_weight=covisit_weight)
        return Recommender.from_vectors(IDS, VECTORS, config=config).fit(events_frame(rows))

    def test_a_short_history_gets_what_others_did_next(self):
        assert self.WATCH in self.make(covisit_weight=0.5).recommend("newbie", n=3).item_ids
        assert self.WATCH not in self.make(covisit_weight=0.0).recommend("newbie", n=3).item_ids

    def test_co_visited_products_are_candidates_even_far_from_the_taste(self):
        model = self.make(covisit_weight=0.5)
        model.config.candidates, model.config.popular_candidates = 1, 0  # the index finds one shoe, no more
        assert self.WATCH in model.recommend("newbie", n=3).item_ids
        model.config.covisit_candidates = 0
        assert self.WATCH not in model.recommend("newbie", n=3).item_ids

    def test_a_co_visited_product_removed_since_the_fit_is_never_shown(self):
        model = self.make(covisit_weight=0.5)
        model.remove_item(self.WATCH)
        assert self.WATCH not in model.recommend("newbie", n=len(IDS)).item_ids

    def test_a_new_shoppers_events_count_at_once(self):
        model = self.make(covisit_weight=0.5)
        model.preferences.rebuild_users(events_frame([("late", SHOES[0], "view", 0)]).assign(event_id="late0"))
        assert self.WATCH in model.recommend("late", n=3).item_ids

    def test_explanations_name_the_co_visitation_part(self):
        result = self.make(covisit_weight=0.5).recommend("newbie", n=3, explain=True)
        reasons = result.explanations[result.item_ids.tolist().index(self.WATCH)]
        assert any(r.get("covisitation", 0) > 0 for r in reasons)

    def test_fading_gives_long_histories_less_of_it(self):
        model = self.make(covisit_weight=0.5)
        model.config.covisit_fade = 2.0  # halved at 2 events
        pull = model.covisitation.pull([SHOES[0]], [1.0])  # the watch is the one co-visit: relative pull 1
        term = model._covisit(np.array([1.0, 2.0, 18.0]), [pull] * 3, np.array([[self.WATCH]] * 3)).ravel()
        assert term.tolist() == pytest.approx([0.5 * 2 / 3, 0.5 / 2, 0.5 / 10])

def test_mmr_prefers_a_different_product_over_a_near_copy():
    vectors = np.array([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    scores = np.array([[1.0, 0.99, 0.9]])
    assert mmr_order(scores, vectors, 2, relevance=1.0).tolist() == [[0, 1]]
    assert mmr_order(scores, vectors, 2, relevance=0.7).tolist() == [[0, 2]]
    assert mmr_order(np.array([[1.0, -np.inf, -np.inf]]), vectors, 2, relevance=0.7).tolist() == [[0, -1]]


class TestPopularity(ContractTests):
    def make(self):
        return PopularityRecommender(IDS)


class TestItemKNN(ContractTests):
    def make(self):
        return ItemKNNRecommender(IDS)

    def test_co_occurring_products_rank_first(self, model):
        assert set(model.recommend("w2", n=3).item_ids.tolist()) <= set(WATCHES[:4])


class TestALS(ContractTests):
    def make(self):
        return ALSRecommender(IDS, factors=4, iterations=5)


class TestBuyAgain(ContractTests):
    def make(self):
        return BuyAgainRecommender(IDS)

    def test_own_purchases_first_by_orders_then_the_latest(self):
        model = self.make().fit(events_frame([("u", SHOES[0], "purchase", 0), ("u", SHOES[1], "purchase", 1),
                                              ("u", SHOES[1], "purchase", 2), ("u", SHOES[2], "purchase", 3),
                                              ("v", WATCHES[0], "purchase", 4), ("w", WATCHES[0], "purchase", 5)]))
        top = model.recommend("u", n=4, filter_already_bought=False).item_ids.tolist()
        assert top == [SHOES[1], SHOES[2], SHOES[0], WATCHES[0]]  # then the most popular


def test_items_keep_their_popularity_ranking_until_popularity_changes():
    items = Items([10, 11, 12], popularity=[1.0, 5.0, 3.0])
    assert items.ids[items.most_popular_rows(2)].tolist() == [11, 12]
    assert items.prior()[1] == pytest.approx(1.0)
    items.upsert(10, popularity=9.0)
    assert items.ids[items.most_popular_rows(1)].tolist() == [10] and items.prior()[0] == pytest.approx(1.0)
    items.upsert(13, popularity=20.0)
    assert items.ids[items.most_popular_rows(1)].tolist() == [13]
    items.remove(13)
    assert items.ids[items.most_popular_rows(3)].tolist() == [10, 11, 12]
    items.set_popularity_from_events(events_frame([("u", 12, "purchase", 0)]), {"purchase": 1.0}, 90.0)
    assert items.ids[items.most_popular_rows(1)].tolist() == [12] and items.prior()[2] == pytest.approx(1.0)
