"""Buying again (recsys.repurchase) and tailorcard's per-store decision to keep already-bought products."""
import numpy as np
import pytest

from recsys.recommender import Recommender, RecommenderConfig, RecommenderError
from recsys.repurchase import Repurchase, RepurchaseConfig, repeat_share
from recsys_helpers import attribute_vectors, events_frame, tiny_products

PRODUCTS = tiny_products()
IDS, VECTORS = PRODUCTS.index.to_numpy(), attribute_vectors(PRODUCTS)
STAPLE, ONE_OFF, THEIRS = int(IDS[0]), int(IDS[20]), int(IDS[30])


def reordering_log():
    """Trade buyers: each re-orders the staple every week; a bought the one-off once, early; b and c (a's
    neighbours) also buy another product, which a never bought."""
    rows = [(user, STAPLE, "purchase", 24 * 7 * week + i) for week in range(4) for i, user in enumerate("abc")]
    rows += [("a", ONE_OFF, "purchase", 1.5)]
    rows += [(user, THEIRS, "purchase", 24 * 7 * week + 3) for week in range(4) for user in "bc"]
    return events_frame(rows)


def one_off_log():
    """Every purchase a different product: nobody re-orders."""
    return events_frame([(f"u{i}", int(IDS[i]), "purchase", i) for i in range(12)] + [("u0", int(IDS[13]), "view", 20)])


def fitted(events, **config):
    return Recommender.from_vectors(IDS, VECTORS, config=RecommenderConfig(mmr_lambda=1.0, **config)).fit(events)


def test_repeat_share_counts_orders_that_re_order_a_product():
    log = events_frame([("a", 100, "purchase", 0), ("a", 100, "purchase", 5), ("a", 103, "purchase", 5),
                        ("b", 100, "purchase", 1), ("b", 100, "view", 9)])
    assert repeat_share(log) == pytest.approx(1 / 4)  # (a, 100) again at hour 5, of four bought (user, product, order)s


def test_auto_keeps_bought_products_where_shoppers_re_order_and_hides_them_where_they_do_not():
    reorders, one_offs = fitted(reordering_log()), fitted(one_off_log())
    assert reorders.filters_bought is False and one_offs.filters_bought is True
    assert STAPLE in reorders.recommend("a", n=3).item_ids
    assert int(IDS[0]) not in one_offs.recommend("u0", n=len(IDS)).item_ids
    assert int(IDS[0]) in one_offs.recommend("u0", n=len(IDS), filter_already_bought=False).item_ids
    assert fitted(reordering_log(), filter_already_bought=True).filters_bought is True  # configured, not learned


def test_staples_come_first_and_neighbours_bring_in_what_they_re_order():
    top = fitted(reordering_log()).recommend("a", n=3).item_ids.tolist()
    assert top[0] == STAPLE and THEIRS in top
    assert top == [STAPLE, THEIRS, ONE_OFF]  # the neighbours' re-order before the one-off


def test_each_part_moves_the_score_the_way_it_says():
    log = reordering_log()
    ids = np.array([[STAPLE, ONE_OFF, THEIRS, -1]])
    full = Repurchase.from_events(IDS, log).scores(["a"], ids)[0]
    assert full[0] > full[2] > 0 and full[1] > 0 and full[3] == 0
    alone = Repurchase.from_events(IDS, log, RepurchaseConfig(neighbour_weight=0.0)).scores(["a"], ids)[0]
    assert alone[2] == 0  # a never bought it: only neighbours bring it
    assert Repurchase.from_events(IDS, log).scores(["stranger"], ids).tolist() == [[0, 0, 0, 0]]


def test_explanations_name_the_repurchase_part():
    result = fitted(reordering_log()).recommend("a", n=1, explain=True)
    assert any(reason.get("repurchase", 0) > 0 for reason in result.explanations[0])


@pytest.mark.parametrize("field, value", [("filter_already_bought", "sometimes"), ("filter_already_bought", 1),
                                          ("repeat_share_to_keep_bought", 1.5), ("repurchase_weight", -1.0),
                                          ("repurchase_candidates", 2.5)])
def test_bad_settings_are_refused_by_name(field, value):
    with pytest.raises(RecommenderError, match=field):
        RecommenderConfig(**{field: value}).check_inputs()


def test_bad_repurchase_settings_are_refused_by_name():
    with pytest.raises(RecommenderError, match="neighbours"):
        RecommenderConfig(repurchase=RepurchaseConfig(neighbours=0)).check_inputs()
    with pytest.raises(RecommenderError, match="unknown field"):
        RecommenderConfig(repurchase={"half_life": 3})
