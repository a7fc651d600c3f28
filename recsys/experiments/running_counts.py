"""A bandit's counts kept up to date from the rows logged since the last look, instead of recounted from its whole log.

Cards ask for a bandit's probabilities on every request, and those follow its counts: exposures and attributed
clicks per segment and arm. Recounting the whole log every few seconds costs a worker a read of all of it,
growing without end. `RunningCounts.update` takes only the new exposures and clicks, attributes them in memory as
`attribute` does (a click credits its shopper's latest exposure of that product at most the window before it), and
folds every exposure older than the window into settled totals: a click stamped from now on can no longer credit
it. So memory holds one attribution window of traffic, and an update costs the new rows plus one in-memory pass
over that window. The counts equal a full recount's whenever each click is logged before its exposure is a window
old (a later one, sent with its old timestamp, still counts on the results page, which recounts everything).
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from recsys.experiments.attribution import attribute
from recsys.experiments.segments import segment_counts

Counts = dict[str, dict[str, tuple[int, int]]]  # segment key -> arm -> (exposures, clicks)
EXPOSURE_FIELDS = ["user_id", "arm", "item_id", "timestamp", "segment"]
CLICK_FIELDS = ["user_id", "item_id", "type", "timestamp"]


class RunningCounts:
    def __init__(self, arms: Sequence[str], window_s: float):
        self.arms, self.window_s = tuple(arms), float(window_s)
        self._settled: Counts = {}
        self._exposures = pd.DataFrame(columns=EXPOSURE_FIELDS)  # those within the window of the last update
        self._clicks = pd.DataFrame(columns=CLICK_FIELDS)

    def update(self, exposures: pd.DataFrame, clicks: pd.DataFrame, now: float) -> Counts:
        """The counts of every exposure and click given so far; `exposures` and `clicks` are the new rows (any
        order; clicks of anyone: those of shoppers without an exposure in the window are dropped), `now` the time
        they were read at. A click is read after the exposure it credits (the shopper saw the card)."""
        self._exposures = _appended(self._exposures, exposures, EXPOSURE_FIELDS)
        if clicks is not None and not clicks.empty:
            shown = set(self._exposures["user_id"].tolist())  # others' clicks can credit nothing
            self._clicks = _appended(self._clicks, clicks[[user in shown for user in clicks["user_id"].tolist()]],
                                     CLICK_FIELDS)
        if self._exposures.empty:
            return added(self._settled, {})
        flagged = attribute(self._exposures, self._clicks, self.window_s, keep_multi_arm=True).exposures
        settled = (flagged["timestamp"] < now - self.window_s).to_numpy()
        self._settled = added(self._settled, segment_counts(flagged[settled], self.arms))
        self._exposures = self._exposures[~settled].reset_index(drop=True)
        self._clicks = self._clicks[self._clicks["timestamp"] >= now - self.window_s].reset_index(drop=True)
        return added(self._settled, segment_counts(flagged[~settled], self.arms))


def added(first: Counts, second: Counts) -> Counts:
    """The two counts summed, segment by segment and arm by arm (a new dict)."""
    total = {key: dict(arms) for key, arms in first.items()}
    for key, arms in second.items():
        for arm, (shown, clicked) in arms.items():
            before = total.setdefault(key, {}).get(arm, (0, 0))
            total[key][arm] = (before[0] + shown, before[1] + clicked)
    return total


def _appended(frame: pd.DataFrame, rows: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    if rows is None or rows.empty:
        return frame
    rows = rows[fields]
    return rows.reset_index(drop=True) if frame.empty else pd.concat([frame, rows], ignore_index=True)
