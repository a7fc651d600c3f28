import numpy as np
import pandas as pd
import pytest

from features.errors import EmbeddingSpaceMismatch
from features.preferences import PreferenceConfig, PreferenceError, PreferenceStore
from recsys_helpers import attribute_vectors, events_frame, tiny_products

PRODUCTS = tiny_products()
IDS, VECTORS = PRODUCTS.index.to_numpy(), attribute_vectors(PRODUCTS)


def item(gender, article_type, colour, usage="Casual") -> int:
    p = PRODUCTS
    return int(p[(p.gender == gender) & (p.articleType == article_type) & (p.baseColour == colour) & (p.usage == usage)].index[0])


def random_events(tiny_encoder_texts: bool, n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(f"u{rng.integers(4)}", int(rng.choice(IDS)), str(rng.choice(["view", "click", "purchase", "dislike", "return"])),
             float(rng.random() * 2000)) for _ in range(n)]
    events = events_frame(rows)
    if tiny_encoder_texts:
        events.loc[::9, "query"] = np.array(["red shoes", "blue watch", "men tshirt"])[np.arange(len(events))[::9] // 9 % 3]
        events.loc[::18, "item_id"] = -1
    return events


def test_users_rebuilt_as_their_events_arrive_equal_the_batch_rebuild_in_any_order(tiny_encoder):
    events = random_events(tiny_encoder_texts=True)
    vectors = attribute_vectors(PRODUCTS)  # 16-d, like the tiny CLIP's text space
    batch = PreferenceStore(IDS, vectors, tiny_encoder.encode_texts).rebuild(events)
    arriving = PreferenceStore(IDS, vectors, tiny_encoder.encode_texts)
    shuffled = events.sample(frac=1.0, random_state=3)  # late events included
    for start, end in [(0, 50), (50, 120), (120, len(shuffled))]:  # as the service does: the users with new
        arrived, new = shuffled[:end], shuffled[start:end]        # events, each with all their events so far
        arriving.rebuild_users(arrived[arrived["user_id"].isin(set(new["user_id"]))])
    assert_same_tastes(arriving, batch, sorted(set(events["user_id"])))


def assert_same_tastes(store: PreferenceStore, expected: PreferenceStore, users) -> None:
    np.testing.assert_allclose(store.vectors(users), expected.vectors(users), atol=1e-6)
    for user in users:
        by_source = [s.contributions(user).sort_values(["item_id", "query"])["weight"] for s in (store, expected)]
        np.testing.assert_allclose(*by_source, rtol=1e-9)
        assert sorted(store.bought_items(user)) == sorted(expected.bought_items(user))
        assert store.event_count(user) == expected.event_count(user)


def test_rebuilding_some_users_gives_them_the_full_rebuild_and_leaves_the_others(tiny_encoder):
    log = random_events(tiny_encoder_texts=True, n=240)
    earlier, later = log[:160], log[160:]
    newcomer = later.iloc[:3].assign(user_id="u9", event_id=["n0", "n1", "n2"])  # a query-only event among them
    later = pd.concat([later[later["user_id"].isin(["u1", "u2"])], newcomer])
    log = pd.concat([earlier, later])
    store = PreferenceStore(IDS, VECTORS, tiny_encoder.encode_texts).rebuild(earlier)
    untouched = PreferenceStore(IDS, VECTORS, tiny_encoder.encode_texts).rebuild(earlier)
    late = later[later["user_id"] == "u1"]
    assert (late["timestamp"] < store.ref_time[store.user_ids.index("u1")]).any()  # late events are among them
    assert set(later["type"]) >= {"purchase", "dislike"} and (newcomer["item_id"] == -1).any()

    theirs = log[log["user_id"].isin(["u1", "u2", "u9"])].sample(frac=1.0, random_state=0)
    repeated = theirs.iloc[[0]].assign(item_id=IDS[7], type="purchase")  # an event id seen before counts once
    store.rebuild_users(pd.concat([theirs, repeated]))

    batch = PreferenceStore(IDS, VECTORS, tiny_encoder.encode_texts).rebuild(log)
    assert_same_tastes(store, batch, ["u1", "u2", "u9"])
    np.testing.assert_allclose(store.decayed_sums(["u1", "u2", "u9"]), batch.decayed_sums(["u1", "u2", "u9"]),
                               rtol=1e-9, atol=1e-12)
    for user in ["u0", "u3"]:
        np.testing.assert_array_equal(store.decayed_sums([user]), untouched.decayed_sums([user]))
        pd.testing.assert_frame_equal(store.contributions(user), untouched.contributions(user))
        assert store.event_count(user) == untouched.event_count(user)
    assert sorted(store.user_ids) == sorted(batch.user_ids) and store.seen_event_ids == batch.seen_event_ids


def test_rebuilding_users_with_an_unknown_product_changes_nothing():
    store = PreferenceStore(IDS, VECTORS).rebuild(events_frame([("u", IDS[0], "view", 0)]))
    before = store.contributions("u")
    with pytest.raises(PreferenceError, match="424242"):
        store.rebuild_users(events_frame([("u", IDS[0], "view", 0), ("u", IDS[1], "view", 1),
                                          ("new", 424242, "view", 2)]))
    pd.testing.assert_frame_equal(store.contributions("u"), before)
    assert "new" not in store and store.event_count("u") == 1


def test_a_repeated_event_id_counts_once():
    once = PreferenceStore(IDS, VECTORS).rebuild(events_frame([("u1", IDS[0], "view", 0)]))
    repeated = events_frame([("u1", IDS[0], "view", 0), ("u1", IDS[5], "view", 1)]).assign(event_id="e0")
    for store in (PreferenceStore(IDS, VECTORS).rebuild(repeated), PreferenceStore(IDS, VECTORS).rebuild_users(repeated)):
        np.testing.assert_array_equal(store.vector("u1"), once.vector("u1"))
        assert store.event_count("u1") == 1


def test_dislike_pushes_the_vector_away():
    red_shoe, blue_watch = item("Women", "Shoes", "Red"), item("Women", "Watches", "Blue")
    store = PreferenceStore(IDS, VECTORS).rebuild(events_frame([("u", blue_watch, "purchase", 0), ("u", red_shoe, "dislike", 1)]))
    liked_only = PreferenceStore(IDS, VECTORS).rebuild(events_frame([("u", blue_watch, "purchase", 0)]))
    shoe = VECTORS[list(IDS).index(red_shoe)]
    assert store.vector("u") @ shoe < liked_only.vector("u") @ shoe


def test_recent_events_weigh_more_with_the_half_life():
    shoe, watch = item("Men", "Shoes", "Black"), item("Men", "Watches", "Black")
    config = PreferenceConfig(half_life_days=1.0)
    store = PreferenceStore(IDS, VECTORS, config=config).rebuild(
        events_frame([("u", shoe, "view", 0), ("u", watch, "view", 48)]))
    weights = store.contributions("u").set_index("item_id")["weight"]
    assert weights[watch] == pytest.approx(1.0) and weights[shoe] == pytest.approx(0.25)


def test_queries_go_through_the_text_encoder(tiny_encoder):
    store = PreferenceStore(IDS, VECTORS, tiny_encoder.encode_texts)
    store.rebuild(events_frame([("u", -1, "view", 0, "red shoes")]))
    expected = tiny_encoder.encode_texts(["red shoes"])[0]
    np.testing.assert_allclose(store.vector("u"), expected / np.linalg.norm(expected), atol=1e-6)
    assert store.contributions("u")["query"].tolist() == ["red shoes"]


def test_rebuilding_with_known_queries_reuses_their_vectors(tiny_encoder):
    calls = []
    store = PreferenceStore(IDS, VECTORS, lambda texts: calls.append(list(texts)) or tiny_encoder.encode_texts(texts))
    events = random_events(tiny_encoder_texts=True)
    first = store.rebuild(events).vectors(["u0", "u1"])
    np.testing.assert_allclose(store.rebuild(events).vectors(["u0", "u1"]), first, atol=1e-6)
    assert calls == [["blue watch", "men tshirt", "red shoes"]]


def test_query_without_a_text_encoder_is_an_error():
    with pytest.raises(PreferenceError, match="text encoder"):
        PreferenceStore(IDS, VECTORS).rebuild(events_frame([("u", -1, "view", 0, "red shoes")]))


def test_text_vectors_of_another_size_are_refused():
    store = PreferenceStore(IDS, VECTORS, lambda texts: np.ones((len(texts), 3)))
    with pytest.raises(EmbeddingSpaceMismatch, match="expected"):
        store.rebuild(events_frame([("u", -1, "view", 0, "red shoes")]))


def test_unknown_product_or_event_type_is_an_error_naming_it():
    with pytest.raises(PreferenceError, match="424242"):
        PreferenceStore(IDS, VECTORS).rebuild(events_frame([("u", 424242, "view", 0)]))
    with pytest.raises(PreferenceError, match=r"unknown event type\(s\) \['share'\]; expected \['view', .*'return'\]"):
        PreferenceStore(IDS, VECTORS).rebuild(events_frame([("u", int(IDS[0]), "share", 0)]))


def test_cold_start_users_get_the_fallback_and_session_users_work():
    store = PreferenceStore(IDS, VECTORS).rebuild(events_frame([("session:s1", IDS[3], "click", 0)]))
    fallback = np.eye(VECTORS.shape[1], dtype=np.float32)[0]
    np.testing.assert_array_equal(store.vector("nobody", fallback=fallback), fallback)
    assert not store.has_vector("nobody")
    np.testing.assert_allclose(store.vector("session:s1"), VECTORS[3], atol=1e-6)


def test_numeric_user_ids_are_kept_as_their_text():
    events = events_frame([(7, IDS[3], "click", 0)])  # ids read from a CSV can arrive as integers
    store = PreferenceStore(IDS, VECTORS).rebuild(events)
    assert store.has_vector("7")
    np.testing.assert_allclose(store.vector("7"), VECTORS[3], atol=1e-6)

