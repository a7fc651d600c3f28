"""Co-visitation: what shoppers did together becomes product-to-product pull."""
import numpy as np
import pytest

from features.preferences import DEFAULT_WEIGHTS, PreferenceError, event_type_weights
from recsys.covisitation import CoVisitation, CoVisitationError
from recsys_helpers import events_frame

IDS = np.array([10, 20, 30, 40, 50], dtype=np.int64)


def with_sessions(rows: list[tuple], sessions: list[str]):
    events = events_frame(rows)
    events["session_id"] = sessions
    return events


def fitted(events, scope="session", max_basket=50) -> CoVisitation:
    return CoVisitation.from_events(IDS, events, DEFAULT_WEIGHTS, scope, max_basket)


def probability(covisitation: CoVisitation, a: int, b: int) -> float:
    return float(covisitation.scores_of(covisitation.pull([a], [1.0]), [b])[0])


def test_rows_are_probabilities_and_stronger_events_count_more():
    events = with_sessions([("u1", 10, "view", 0), ("u1", 20, "view", 1),
                            ("u2", 10, "view", 0), ("u2", 30, "view", 1), ("u2", 30, "purchase", 2)],
                           ["a", "a", "b", "b", "b"])
    covisitation = fitted(events)
    assert probability(covisitation, 10, 30) > probability(covisitation, 10, 20) > 0
    assert probability(covisitation, 10, 10) == 0.0  # a product is not its own neighbour
    sums = np.asarray(covisitation.matrix.sum(axis=1)).ravel()
    assert np.allclose(sums[[0, 1, 2]], 1.0) and np.allclose(sums[[3, 4]], 0.0)


def test_session_scope_keeps_sessions_apart_and_user_scope_joins_them():
    events = with_sessions([("u1", 10, "view", 0), ("u1", 40, "view", 50)], ["a", "b"])
    assert probability(fitted(events, "session"), 10, 40) == 0.0
    assert probability(fitted(events, "user"), 10, 40) > 0.0


def test_events_without_a_session_are_one_basket_per_shopper():
    events = with_sessions([("u1", 10, "view", 0), ("u1", 20, "view", 50), ("u2", 30, "view", 1)], ["", "", ""])
    covisitation = fitted(events)
    assert probability(covisitation, 10, 20) > 0.0 and probability(covisitation, 10, 30) == 0.0


def test_negative_events_queries_and_unknown_products_are_not_co_visits():
    events = with_sessions([("u1", 10, "view", 0), ("u1", 20, "dislike", 1), ("u1", -1, "view", 2, "red shoes"),
                            ("u1", 999, "view", 3)], ["a"] * 4)
    assert fitted(events).matrix.nnz == 0


def test_big_baskets_keep_their_strongest_products():
    events = with_sessions([("u1", 10, "purchase", 0), ("u1", 20, "add_to_cart", 1), ("u1", 30, "view", 2)],
                           ["a"] * 3)
    covisitation = fitted(events, max_basket=2)
    assert probability(covisitation, 10, 20) == 1.0 and probability(covisitation, 10, 30) == 0.0


def test_pull_mixes_the_positive_sources_by_weight():
    events = with_sessions([("u1", 10, "view", 0), ("u1", 20, "view", 1), ("u2", 30, "view", 0),
                            ("u2", 40, "view", 1)], ["a", "a", "b", "b"])
    covisitation = fitted(events)
    pull = covisitation.pull([10, 30, 50, -1], [3.0, 1.0, 4.0, 2.0])  # 50 was never co-visited, -1 is a query
    assert np.allclose(covisitation.scores_of(pull, [20, 40, 10, 777]), [3 / 8, 1 / 8, 0.0, 0.0])
    assert covisitation.strongest(pull, 5).tolist() == [20, 40]
    assert covisitation.pull([10], [-4.0]).nnz == 0  # a dislike pulls nothing


def test_unknown_scope_or_event_type_is_a_clear_error():
    with pytest.raises(CoVisitationError, match="scope must be one of"):
        fitted(with_sessions([("u1", 10, "view", 0)], ["a"]), scope="week")
    with pytest.raises(PreferenceError, match=r"unknown event type\(s\) \['wishlist'\]; expected \['view', 'click'"):
        fitted(with_sessions([("u1", 10, "view", 0), ("u1", 20, "wishlist", 1)], ["a", "a"]))


def test_valid_event_types_the_weights_leave_out_count_for_nothing():
    events = with_sessions([("u1", 10, "view", 0), ("u1", 20, "purchase", 1), ("u1", 30, "purchase", 2)], ["a"] * 3)
    covisitation = CoVisitation.from_events(IDS, events, {"purchase": 1.0})
    assert probability(covisitation, 20, 30) == 1.0 and probability(covisitation, 10, 20) == 0.0
    # the line above would pass with a NaN weight too (NaN > 0 is False): the weight itself must be 0
    np.testing.assert_array_equal(event_type_weights(["view", "purchase"], {"purchase": 1.0}), [0.0, 1.0])


def test_a_misspelt_event_weight_is_an_error_not_a_silent_zero():
    with pytest.raises(PreferenceError, match=r"unknown type\(s\) \['add-to-cart'\]"):
        event_type_weights(["add_to_cart"], {"add-to-cart": 4.0})
