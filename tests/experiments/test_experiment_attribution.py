"""Attribution: the window, the latest exposure, one credit per exposure, multi-arm users left out."""
import pandas as pd
import pytest

from recsys.experiments import ExperimentError, attribute

HOUR = 3600.0


def exposures(*rows):
    return pd.DataFrame(rows, columns=["user_id", "arm", "item_id", "timestamp"])


def events(*rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "type", "timestamp"])


def test_events_count_only_inside_the_window_after_the_exposure():
    served = exposures(("u1", "a", 10, 1000.0), ("u2", "a", 10, 1000.0), ("u3", "a", 10, 1000.0))
    happened = events(("u1", 10, "click", 1000.0 + HOUR),  # inside a 2 h window
                      ("u2", 10, "click", 1000.0 + 3 * HOUR),  # too late
                      ("u3", 10, "click", 999.0),  # before the card was served
                      ("u1", 11, "purchase", 1000.0 + 60))  # another product
    result = attribute(served, happened, window_s=2 * HOUR)
    assert result.exposures.set_index("user_id")["clicked"].to_dict() == {"u1": True, "u2": False, "u3": False}
    assert not result.exposures["purchased"].any()
    assert result.attributed == {"click": 1, "add_to_cart": 0, "purchase": 0}
    assert result.unattributed == {"click": 2, "add_to_cart": 0, "purchase": 1}
    assert attribute(served, happened, window_s=4 * HOUR).exposures["clicked"].sum() == 2


def test_an_event_goes_to_the_latest_exposure_and_each_exposure_counts_once():
    served = exposures(("u1", "a", 10, 0.0), ("u1", "a", 10, 500.0))
    happened = events(("u1", 10, "click", 600.0), ("u1", 10, "click", 601.0), ("u1", 10, "add_to_cart", 700.0))
    flagged = attribute(served, happened, window_s=HOUR).exposures.sort_values("timestamp")
    assert flagged["clicked"].tolist() == [False, True]
    assert flagged["carted"].tolist() == [False, True]


def test_a_click_after_a_later_exposure_elsewhere_is_that_exposures_not_this_experiments():
    served = exposures(("u1", "a", 10, 0.0), ("u2", "a", 10, 0.0), ("u3", "a", 10, 0.0))
    # Another experiment showed u1 the same product at 100 and u3 another product; u2 saw it there at the same
    # moment as here (two experiments logging one card), which takes nothing from this one.
    other = pd.DataFrame([("u1", 10, 100.0), ("u3", 11, 100.0), ("u2", 10, 0.0)],
                         columns=["user_id", "item_id", "timestamp"])
    happened = events(("u1", 10, "click", 150.0), ("u2", 10, "click", 150.0), ("u3", 10, "click", 150.0))
    result = attribute(served, happened, window_s=HOUR, elsewhere=other)
    assert result.exposures.set_index("user_id")["clicked"].to_dict() == {"u1": False, "u2": True, "u3": True}
    assert result.attributed["click"] == 2 and result.credited_elsewhere["click"] == 1
    assert result.unattributed["click"] == 0 and result.summary()["credited_elsewhere_events"]["click"] == 1
    alone = attribute(served, happened, window_s=HOUR)  # without the other experiment's exposures: all three
    assert alone.exposures["clicked"].all() and alone.credited_elsewhere["click"] == 0


def test_users_who_saw_more_than_one_arm_are_counted_and_excluded():
    served = exposures(("u1", "a", 10, 0.0), ("u1", "b", 11, 10.0), ("u2", "b", 10, 0.0))
    happened = events(("u1", 10, "click", 20.0), ("u2", 10, "click", 20.0))
    result = attribute(served, happened, window_s=HOUR)
    assert result.multi_arm_users == 1 and result.multi_arm_exposures == 2
    assert result.exposures["user_id"].tolist() == ["u2"]
    assert result.summary()["unattributed_events"]["click"] == 1  # u1's click is left out, and counted


def test_bad_tables_are_refused_with_the_column_and_row():
    with pytest.raises(ExperimentError, match=r"lack column\(s\) \['arm'\]"):
        attribute(pd.DataFrame({"user_id": ["u"], "item_id": [1], "timestamp": [0]}), events(), 60)
    with pytest.raises(ExperimentError, match="row 1: timestamp must be a number; got 'soon'"):
        attribute(exposures(("u1", "a", 1, 0.0), ("u2", "a", 1, "soon")), events(), 60)
