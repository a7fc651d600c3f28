"""A shopper's colour, learned from events: centred on the catalogue's colours, decayed, pushed by negatives."""
import numpy as np
import pandas as pd
import pytest

from features.colour_taste import KIND_PRIOR, ColourTaste
from features.errors import TailorcardError
from recsys_helpers import events_frame

# A catalogue that is mostly black: 6 black products, 2 blue, 2 red (ids 0..9).
COLOURS = ["Black"] * 6 + ["Blue"] * 2 + ["Red"] * 2
IDS = np.arange(10)


def taste(rows) -> ColourTaste:
    return ColourTaste(IDS, COLOURS).rebuild(events_frame(rows))


def test_a_lean_is_measured_against_the_catalogue_not_by_raw_counts():
    # Four black views and three blue ones: more black by count, but the catalogue is 60 % black.
    lean = taste([("u", 0, "view", 0), ("u", 1, "view", 1), ("u", 2, "view", 2), ("u", 3, "view", 3),
                  ("u", 6, "view", 4), ("u", 7, "view", 5), ("u", 6, "view", 6)])
    assert lean.colour_of("u") == "Blue"


def test_browsing_in_the_catalogues_proportions_leans_nowhere_and_strangers_have_no_colour():
    lean = taste([("u", int(i), "view", h) for h, i in enumerate(IDS)])
    assert lean.colours_of(["u", "stranger"]) == [None, None]


def test_negatives_push_away_and_queries_carry_no_colour():
    lean = taste([("u", 6, "view", 0), ("u", 7, "dislike", 1), ("u", 8, "view", 2),
                  ("q", -1, "view", 3, "red dress")])
    assert lean.colour_of("u") == "Red"
    assert lean.colour_of("q") is None


def test_online_updates_learn_the_same_colours_as_a_rebuild():
    rng = np.random.default_rng(0)
    rows = [(f"u{rng.integers(5)}", int(rng.integers(10)), str(rng.choice(["view", "click", "dislike", "purchase"])),
             float(rng.random() * 500)) for _ in range(120)]
    batch = taste(rows)
    online = ColourTaste(IDS, COLOURS)
    for event in events_frame(rows).sample(frac=1.0, random_state=1).to_dict("records"):
        online.observe(event)
    users = [f"u{i}" for i in range(5)]
    assert online.colours_of(users) == batch.colours_of(users)
    assert any(colour is not None for colour in batch.colours_of(users))


def test_rebuilding_some_shoppers_learns_their_colours_as_a_full_rebuild_does():
    rng = np.random.default_rng(2)
    rows = [(f"u{rng.integers(5)}", int(rng.integers(10)), str(rng.choice(["view", "click", "dislike", "purchase"])),
             float(rng.random() * 500)) for _ in range(120)]
    events = events_frame(rows)
    partial, earlier = taste(rows[:60]), taste(rows[:60])
    partial.rebuild_users(events[events["user_id"].isin(["u1", "u2"])])
    rebuilt, others = ["u1", "u2"], ["u0", "u3", "u4"]
    np.testing.assert_allclose(partial.preferences.decayed_sums(rebuilt), taste(rows).preferences.decayed_sums(rebuilt),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(partial.preferences.decayed_sums(others), earlier.preferences.decayed_sums(others))


def test_colours_must_exist_and_match_the_products():
    with pytest.raises(TailorcardError, match="no product has a colour"):
        ColourTaste(IDS, [""] * 10)
    with pytest.raises(TailorcardError, match="3 colour"):
        ColourTaste(IDS, ["Black", "Blue", "Red"])
    assert ColourTaste(IDS, pd.Series(COLOURS[:9] + [None])).names == ["Black", "Blue", "Red"]


# Two kinds: watches (ids 0-3) are mostly black, shirts (ids 4-9) mostly blue or red; the catalogue is 40 % black.
KINDS = ["Watches"] * 4 + ["Shirts"] * 6
KIND_COLOURS = ["Black", "Black", "Black", "Red", "Black", "Blue", "Blue", "Red", "Red", "Red"]
BLACK_WATCHES = (3 + KIND_PRIOR * 0.4) / (4 + KIND_PRIOR)  # the kind's black share, drawn toward the catalogue's
BLACK_SHIRTS = (1 + KIND_PRIOR * 0.4) / (6 + KIND_PRIOR)


def test_a_lean_is_measured_against_the_products_kind():
    rows = [("u", 0, "view", 0), ("u", 1, "view", 0), ("u", 2, "view", 0), ("u", 4, "view", 0)]  # at one time
    by_catalogue = ColourTaste(IDS, KIND_COLOURS).rebuild(events_frame(rows))
    by_kind = ColourTaste(IDS, KIND_COLOURS, kinds=KINDS).rebuild(events_frame(rows))
    # Black watches say little (watches mostly are black); the black shirt says black.
    sums = by_kind.preferences.decayed_sums(["u"])[0]
    np.testing.assert_allclose(sums[by_kind.names.index("Black")], 3 * (1 - BLACK_WATCHES) + (1 - BLACK_SHIRTS),
                               rtol=1e-6)
    assert by_catalogue.colour_of("u") == by_kind.colour_of("u") == "Black"
    assert by_kind.preferences.decayed_sums(["u"])[0].max() < by_catalogue.preferences.decayed_sums(["u"])[0].max()


def test_browsing_a_kind_in_its_own_proportions_leans_little():
    rows = [("u", i, "view", i) for i in range(4)]  # every watch once: 3 black, 1 red
    assert ColourTaste(IDS, KIND_COLOURS, kinds=KINDS).rebuild(events_frame(rows)).colour_of("u") is None
    assert ColourTaste(IDS, KIND_COLOURS).rebuild(events_frame(rows)).colour_of("u") == "Black"


def test_new_products_are_centred_on_their_kind_or_on_the_catalogue_for_a_new_kind():
    colours = ColourTaste(IDS, KIND_COLOURS, kinds=KINDS)
    colours.set_items([10, 11], ["Black", "Black"], kinds=["Watches", "Hats"])
    rows = [("w", 10, "view", 0), ("h", 11, "view", 0)]
    sums = colours.rebuild(events_frame(rows)).preferences.decayed_sums(["w", "h"])[:, colours.names.index("Black")]
    np.testing.assert_allclose(sums, [1 - BLACK_WATCHES, 1 - 0.4], rtol=1e-6)


def test_kinds_must_match_the_products():
    with pytest.raises(TailorcardError, match="3 kind"):
        ColourTaste(IDS, KIND_COLOURS, kinds=["Watches"] * 3)


def test_the_only_product_of_its_kind_still_says_something_of_colour():
    # In a small catalogue most kinds have one product; centred on itself alone, it would lean nowhere.
    colours = ColourTaste(IDS, KIND_COLOURS, kinds=[f"kind{i}" for i in IDS])
    rows = [("u", 5, "view", 0), ("u", 5, "click", 0)]  # weights 1 + 2
    sums = colours.rebuild(events_frame(rows)).preferences.decayed_sums(["u"])[0]
    blue = colours.names.index("Blue")
    np.testing.assert_allclose(sums[blue], 3.0 * KIND_PRIOR / (1 + KIND_PRIOR) * (1 - 0.2), rtol=1e-6)
    assert colours.colour_of("u") == "Blue"
