"""A bandit's counts kept up to date from the rows logged since the last look, instead of recounted from its whole log.

Cards ask for a bandit's probabilities on every request, and those follow its counts: exposures and attributed
clicks per segment and arm. Recounting the whole log every few seconds costs a worker a read of all of it,
growing without end. `RunningCounts.update` takes only the new exposures and clicks, attributes them in memory as
`attribute` does (a click credits its shopper's latest exposure of that product at most the window before it), and
folds every exposure older than the window into settled totals: a click stamped from now on can no longer credit
it. So memory holds one attribution window of traffic, and an update costs the new rows plus one in-memory pass
over that window. The counts equal a full recount's whenever each click is logged before its exposure is a window
old (a later one, sent with its old timestamp, still counts on the results page, which recounts everything).

Exposures of the same shoppers in other experiments (`elsewhere`) are kept for one window too: a click that
follows a later exposure of that product elsewhere is that experiment's (attribution's `elsewhere`), so two bandits
showing the same products to the same shoppers do not both count one click in their probabilities.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from recsys.experiments.attribution import attribute
from recsys.experiments.segments import segment_counts

Counts = dict[str, dict[str, tuple[int, int]]]  # segment key -> arm -> (exposures, clicks)
EXPOSURE_FIELDS = ["user_id", "arm", "item_id", "timestamp", "segment"]
CLICK_FIELDS = ["user_id", "item_id", "type", "timestamp"]
ELSEWHERE_FIELDS = ["user_id", "item_id", "timestamp"]


class RunningCounts:
    def __init__(self, arms: Sequence[str], window_s: float):
        self.arms, self.window_s = tuple(arms), float(window_s)
        self._settled: Counts = {}
        self._exposures = pd.DataFrame(columns=EXPOSURE_FIELDS)  # those within the window of the last update
        self._clicks = pd.DataFrame(columns=CLICK_FIELDS)
        self._elsewhere = pd.DataFrame(columns=ELSEWHERE_FIELDS)

    def update(self, exposures: pd.DataFrame, clicks: pd.DataFrame, now: float,
               elsewhere: pd.DataFrame | None = None) -> Counts:
        """The counts of every exposure and click given so far; `exposures`, `clicks` and `elsewhere` (exposures
        in other experiments) are the new rows (any order; clicks of anyone: those of shoppers without an exposure
        here in the window are dropped), `now` the time they were read at. A click is read after the exposure it
        credits (the shopper saw the card) and after the exposures elsewhere before it. Exposures elsewhere are
        all kept for a window, whoever they are of: one read here before the exposure it follows still counts."""
        self._exposures = _appended(self._exposures, exposures, EXPOSURE_FIELDS)
        self._clicks = _appended(self._clicks, self._of_shown(clicks), CLICK_FIELDS)
        self._elsewhere = _appended(self._elsewhere, elsewhere, ELSEWHERE_FIELDS)
        if self._exposures.empty:
            return added(self._settled, {})
        flagged = attribute(self._exposures, self._clicks, self.window_s, keep_multi_arm=True,
                            elsewhere=self._elsewhere).exposures
        settled = (flagged["timestamp"] < now - self.window_s).to_numpy()
        self._settled = added(self._settled, segment_counts(flagged[settled], self.arms))
        self._exposures = self._exposures[~settled].reset_index(drop=True)
        self._clicks, self._elsewhere = (rows[rows["timestamp"] >= now - self.window_s].reset_index(drop=True)
                                         for rows in (self._clicks, self._elsewhere))
        return added(self._settled, segment_counts(flagged[~settled], self.arms))

    def _of_shown(self, rows: pd.DataFrame | None) -> pd.DataFrame | None:
        """The rows of shoppers shown a card here within the window: others' clicks can credit nothing."""
        if rows is None or rows.empty:
            return None
        shown = set(self._exposures["user_id"].tolist())
        return rows[[user in shown for user in rows["user_id"].tolist()]]


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
