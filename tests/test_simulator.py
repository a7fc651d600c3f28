import numpy as np
import pandas as pd
import pytest

from features.events import validate_events
from features.simulator import SimulatorConfig, SimulatorError, simulate
from recsys_helpers import tiny_catalogue


def run(**overrides):
    return simulate(tiny_catalogue(), SimulatorConfig(**{"n_users": 200, "seed": 3, **overrides}))


def test_same_seed_same_behaviour_other_seed_other_behaviour():
    first, again, other = run(), run(), run(seed=4)
    pd.testing.assert_frame_equal(first.events, again.events)
    assert not first.events[["user_id", "item_id"]].equals(other.events[["user_id", "item_id"]])


def test_the_drawn_popularity_is_kept_per_product_as_ground_truth(tmp_path):
    simulation = run()
    assert simulation.popularity.index.tolist() == tiny_catalogue().ids
    assert (simulation.popularity > 0).all() and simulation.popularity.max() == 1.0  # Zipf rank 1 has weight 1
    pd.testing.assert_series_equal(run().popularity, simulation.popularity)
    saved = pd.read_parquet(simulation.save(tmp_path)["popularity"])
    assert saved["simulated"].all() and saved["popularity"].tolist() == simulation.popularity.tolist()


def test_output_is_labelled_simulated_and_valid_events():
    simulation = run()
    assert simulation.events["simulated"].all() and simulation.tastes["simulated"].all()
    log = validate_events(simulation.events, known_items=tiny_catalogue().ids)
    assert log.rejects.empty and log.duplicates == 0
    assert set(simulation.events["type"]) == {"view", "click", "add_to_cart", "purchase", "like", "dislike", "return"}


def test_nothing_happens_after_the_simulated_period():
    simulation = run(days=10.0)
    end = pd.Timestamp(simulation.config.start).timestamp() + 10 * 86_400
    assert simulation.events["timestamp"].max() < end  # returns due later have not happened yet
    assert (simulation.events["type"] == "return").any()


def test_purchases_follow_the_users_taste():
    simulation = run(n_users=300, taste_strength=1.0, drift_rate=0.0)
    products = tiny_catalogue().products
    bought = simulation.events[simulation.events["type"] == "purchase"].merge(simulation.tastes, on="user_id")
    article_type = products.loc[bought["item_id"], "articleType"].to_numpy()
    gender = products.loc[bought["item_id"], "gender"].to_numpy()
    assert all(t in liked.split("|") for t, liked in zip(article_type, bought["article_types"]))
    assert (gender == bought["gender"].to_numpy()).all()


def test_funnel_every_purchase_has_a_cart_and_a_view_before_it():
    events = run().events
    for kind in ("add_to_cart", "view"):
        earlier = events[events["type"] == kind][["user_id", "item_id", "timestamp"]]
        bought = events[events["type"] == "purchase"].merge(earlier, on=["user_id", "item_id"], suffixes=("", "_before"))
        assert bought.groupby("event_id")["timestamp_before"].min().lt(
            events.set_index("event_id").loc[bought["event_id"].unique(), "timestamp"]).all()


def test_drift_changes_the_taste_after_its_time():
    simulation = run(n_users=300, taste_strength=1.0, drift_rate=1.0, query_rate=0.0)
    events, tastes = simulation.events, simulation.tastes.set_index("user_id")
    assert np.isfinite(tastes["drift_at"]).all()
    session_start = events[events["type"] == "view"].groupby("session_id")["timestamp"].min()
    bought = events[events["type"] == "purchase"]
    article_type = tiny_catalogue().products.loc[bought["item_id"], "articleType"].to_numpy()
    drifted = session_start[bought["session_id"]].to_numpy() >= tastes.loc[bought["user_id"], "drift_at"].to_numpy()
    before = tastes.loc[bought["user_id"], "article_types"].to_numpy()
    liked = np.where(drifted, tastes.loc[bought["user_id"], "article_types_after_drift"].to_numpy(), before)
    assert all(t in types.split("|") for t, types in zip(article_type, liked))
    assert any(t not in old.split("|") for t, old in zip(article_type[drifted], before[drifted]))
    assert (run(drift_rate=0.0).tastes["drift_at"] == np.inf).all()


def test_queries_name_the_mission(tmp_path):
    simulation = run(query_rate=1.0)
    queries = simulation.events.loc[simulation.events["query"] != "", "query"]
    assert len(queries) and queries.str.contains("shoes|tshirts|watches").all()
    paths = simulation.save(tmp_path)
    assert pd.read_parquet(paths["events"])["simulated"].all()
    assert '"simulated": true' in paths["config"].read_text()


def test_bad_configuration_is_refused():
    with pytest.raises(SimulatorError, match="click_rate"):
        run(click_rate=1.5)
    with pytest.raises(SimulatorError, match="n_users"):
        run(n_users=0)
