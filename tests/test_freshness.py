"""New arrivals (recsys.freshness): a product added after the fit reaches the shoppers whose taste it fits,
not the others, and its head start fades as it ages and as it earns events."""
import numpy as np
import pytest

from recsys.recommender import Recommender, RecommenderConfig, RecommenderError
from recsys_helpers import attribute_vectors, events_frame, tiny_products

PRODUCTS = tiny_products()
IDS, VECTORS = PRODUCTS.index.to_numpy(), attribute_vectors(PRODUCTS)
SHOES = PRODUCTS.index[(PRODUCTS["gender"] == "Women") & (PRODUCTS["articleType"] == "Shoes")].tolist()
WATCHES = PRODUCTS.index[(PRODUCTS["gender"] == "Men") & (PRODUCTS["articleType"] == "Watches")].tolist()
NEW = 999
NEW_SHOE = VECTORS[IDS.tolist().index(SHOES[1])]  # looks exactly like a shoe the shoe lovers viewed
START = 1.7e9  # events_frame's hour 0
ADDED = START + 3600.0 * 100


def training_events(extra=()):
    """Shoe lovers (s*) and watch lovers (w*) view four of theirs and buy the first."""
    rows, hour = [], 0
    for user, liked in [(f"s{i}", SHOES) for i in range(4)] + [(f"w{i}", WATCHES) for i in range(4)]:
        rows += [(user, item, "view", hour + i) for i, item in enumerate(liked[:4])]
        rows.append((user, liked[0], "purchase", hour + 4))
        hour += 5
    return events_frame(rows + list(extra))


def model_with_a_new_shoe(**config) -> Recommender:
    # 36 products: "top 3" and a reach of 3 stand for a real catalogue's top 12 and reach of 100
    settings = {"popularity_weight": 0.1, "mmr_lambda": 1.0, "fresh_weight": 0.5, "fresh_reach": 3, **config}
    model = Recommender.from_vectors(IDS, VECTORS, config=RecommenderConfig(**settings))
    model.freshness.clock = lambda: ADDED
    model.fit(training_events())
    model.upsert_item(NEW, NEW_SHOE, added_at=ADDED)
    return model


def top(model, user, n=3) -> list[int]:
    return model.recommend(user, n=n).item_ids.tolist()


def test_a_new_product_reaches_the_shoppers_whose_taste_it_fits_and_no_one_else():
    assert NEW not in top(model_with_a_new_shoe(fresh_weight=0.0, fresh_neighbours=0), "s1")  # the old rule: never
    model = model_with_a_new_shoe()
    assert NEW in top(model, "s1")
    assert NEW not in top(model, "w1", n=12)


def test_the_boost_grows_with_the_trust_in_the_shoppers_taste():
    model = model_with_a_new_shoe(fresh_neighbours=0)
    confidence = np.array([0.0, 0.5, 1.0])  # a cold shopper has no taste to fit: no boost
    boost = model.freshness.score(model.items, np.array([[NEW]] * 3), confidence, np.ones((3, 1)), model.config)
    assert boost.ravel().tolist() == pytest.approx([0.0, 0.25, 0.5])


def test_it_borrows_the_popularity_of_its_look_alikes():
    model = model_with_a_new_shoe(fresh_weight=0.0)
    lent = model.freshness.score(model.items, np.array([[NEW, SHOES[1]]]), np.ones(1), np.ones((1, 2)), model.config)
    assert lent[0, 0] > 0 and lent[0, 1] == 0  # an established product gains nothing


def test_with_nothing_to_borrow_it_keeps_its_own_popularity():
    model = model_with_a_new_shoe(fresh_neighbours=0)
    model.fit(training_events([("v", NEW, "purchase", 40)]))
    assert model.items.popularity[model.items.rows([NEW])[0]] > 0
    cold = np.zeros(1)  # no boost either: only the prior's part is left
    assert model.freshness.score(model.items, np.array([[NEW]]), cold, np.ones((1, 1)), model.config)[0, 0] == 0


def test_its_head_start_fades_with_age():
    model = model_with_a_new_shoe()
    newness = lambda: model.freshness.newness(model.items, np.array([NEW, SHOES[1]]), model.config).tolist()
    assert newness() == [1.0, 0.0]
    model.freshness.clock = lambda: ADDED + 7 * 86_400.0  # one fresh_half_life_days
    assert newness() == pytest.approx([0.5, 0.0])
    model.freshness.clock = lambda: ADDED + 70 * 86_400.0
    assert NEW not in top(model, "s1")


def test_its_head_start_fades_as_it_earns_events():
    model = model_with_a_new_shoe()
    last_hour = training_events()["timestamp"].max() / 3600.0 - START / 3600.0
    views = [(f"v{i}", NEW, "view", last_hour) for i in range(10)]  # 10 weighted events = fresh_evidence
    model.fit(training_events(views))
    assert model.freshness.newness(model.items, np.array([NEW]), model.config)[0] == pytest.approx(0.5)


def test_the_explanation_names_the_new_arrival():
    result = model_with_a_new_shoe().recommend("s1", n=3, explain=True)
    reasons = dict(zip(result.item_ids.tolist(), result.explanations))
    new_arrival = [r for r in reasons[NEW] if "new_arrival" in r]
    assert new_arrival and new_arrival[0]["new_arrival"] > 0 and new_arrival[0]["days_since_added"] == 0.0
    assert "popularity" in reasons[NEW][-1]
    assert not any("new_arrival" in r for item, rs in reasons.items() if item != NEW for r in rs)


def test_updating_a_known_product_does_not_make_it_new_but_removing_forgets_it():
    model = model_with_a_new_shoe()
    model.upsert_item(SHOES[2], VECTORS[IDS.tolist().index(SHOES[2])], in_stock=True)
    assert model.freshness.ids.tolist() == [NEW]
    model.remove_item(NEW)
    assert len(model.freshness) == 0


def test_settled_products_are_forgotten_at_the_next_fit():
    model = model_with_a_new_shoe()
    model.freshness.clock = lambda: ADDED + 700 * 86_400.0  # 100 half-lives
    model.fit(training_events())
    assert len(model.freshness) == 0


@pytest.mark.parametrize("name, value", [("fresh_weight", -0.1), ("fresh_reach", 0), ("fresh_half_life_days", 0),
                                         ("fresh_evidence", 0), ("fresh_neighbours", -1), ("fresh_reach", 2.5)])
def test_fresh_settings_are_checked(name, value):
    with pytest.raises(RecommenderError, match=f"RecommenderConfig.{name} must be"):
        RecommenderConfig(**{name: value}).check_inputs()
