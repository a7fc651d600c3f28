"""RunningCounts: a bandit's counts from the new rows only equal a recount of the whole log."""
import numpy as np
import pandas as pd

from recsys.experiments import attribute
from recsys.experiments.running_counts import RunningCounts, added
from recsys.experiments.segments import segment_counts

ARMS = ("photo", "scene-a", "scene-b")
WINDOW_S = 50.0


def traffic(rng, start: float, end: float, earlier: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Exposures in [start, end), and clicks and exposures in another experiment in the same span, on products
    among the last 150 shown: some clicks credit exposures of earlier batches, a window old by the next update,
    some come too late to credit any, some follow a later exposure of the product elsewhere (not ours)."""
    n = int(rng.integers(20, 60))
    exposures = pd.DataFrame({"user_id": rng.choice([f"u{i}" for i in range(12)], n), "arm": rng.choice(ARMS, n),
                              "item_id": rng.integers(0, 8, n), "timestamp": np.sort(rng.uniform(start, end, n)),
                              "segment": rng.choice([0, 1, None], n)})
    shown = pd.concat([earlier, exposures], ignore_index=True)
    picked = shown.tail(150).sample(n=20, random_state=int(rng.integers(1 << 30)))
    strangers = pd.DataFrame({"user_id": ["stranger"] * 3, "item_id": [0, 1, 2]})  # shown no card: credit nothing
    picked = pd.concat([picked[["user_id", "item_id"]], strangers], ignore_index=True)
    clicks = pd.DataFrame({"user_id": picked["user_id"].to_numpy(), "item_id": picked["item_id"].to_numpy(),
                           "type": "click", "timestamp": rng.uniform(start, end, len(picked))})
    seen = picked.sample(n=12, random_state=int(rng.integers(1 << 30)))
    elsewhere = pd.DataFrame({"user_id": seen["user_id"].to_numpy(), "item_id": seen["item_id"].to_numpy(),
                              "timestamp": rng.uniform(start, end, len(seen))})
    return exposures, clicks, elsewhere


def test_counts_from_new_rows_equal_a_full_recount_at_every_update():
    rng = np.random.default_rng(7)
    running = RunningCounts(ARMS, WINDOW_S)
    every_exposure, every_click, every_elsewhere = pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    taken = 0
    for step in range(12):  # 12 batches of 20 s: exposures settle (leave memory) from the fourth on
        start, now = 20.0 * step, 20.0 * (step + 1)
        exposures, clicks, elsewhere = traffic(rng, start, now, every_exposure)
        every_exposure = pd.concat([every_exposure, exposures], ignore_index=True)
        every_click = pd.concat([every_click, clicks], ignore_index=True)
        every_elsewhere = pd.concat([every_elsewhere, elsewhere], ignore_index=True)
        recount = attribute(every_exposure, every_click, WINDOW_S, keep_multi_arm=True, elsewhere=every_elsewhere)
        counts = running.update(exposures, clicks.sample(frac=1.0, random_state=step), now, elsewhere=elsewhere)
        assert counts == segment_counts(recount.exposures, ARMS)
        taken = recount.credited_elsewhere["click"]
    assert len(running._exposures) < len(every_exposure) / 3  # only the last window is kept
    assert sum(clicked for arms in counts.values() for _, clicked in arms.values()) > 20
    assert taken >= 5  # clicks that another experiment's later exposure took: left out of these counts too


def test_no_rows_yet_is_no_counts_and_sums_add_per_segment_and_arm():
    assert RunningCounts(ARMS, WINDOW_S).update(pd.DataFrame(), pd.DataFrame(), now=10.0) == {}
    assert added({"0": {"photo": (3, 1)}}, {"0": {"photo": (2, 2), "scene-a": (1, 0)}, "none": {"photo": (4, 0)}}) == {
        "0": {"photo": (5, 3), "scene-a": (1, 0)}, "none": {"photo": (4, 0)}}


def test_an_exposure_elsewhere_read_before_the_one_it_follows_still_takes_the_click():
    """On PostgreSQL a row can be read a refresh late: here u1's exposure (t=5) arrives after the other
    experiment's exposure of the same product (t=6), and u1's click (t=8) is still that experiment's."""
    exposure = pd.DataFrame({"user_id": ["u1"], "arm": ["photo"], "item_id": [1], "timestamp": [5.0], "segment": [0]})
    click = pd.DataFrame({"user_id": ["u1"], "item_id": [1], "type": ["click"], "timestamp": [8.0]})
    elsewhere = pd.DataFrame({"user_id": ["u1"], "item_id": [1], "timestamp": [6.0]})
    running = RunningCounts(ARMS, WINDOW_S)
    assert running.update(pd.DataFrame(), pd.DataFrame(), now=7.0, elsewhere=elsewhere) == {}
    counts = running.update(exposure, click, now=9.0)
    assert counts == segment_counts(attribute(exposure, click, WINDOW_S, keep_multi_arm=True,
                                              elsewhere=elsewhere).exposures, ARMS)
    assert [clicked for arms in counts.values() for _, clicked in arms.values()] == [0]
