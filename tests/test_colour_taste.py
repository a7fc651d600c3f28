"""A shopper's colour, learned from events: centred on the catalogue's colours, decayed, pushed by negatives."""
import numpy as np
import pandas as pd
import pytest

from features.colour_taste import ColourTaste
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
