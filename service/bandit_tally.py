"""A bandit experiment's counts in one worker, read from the log a little at a time.

Each refresh reads only the exposures and clicks logged since the last one (by seq) and hands them to
recsys.experiments.running_counts, which attributes and folds them; a worker no longer re-reads the whole log every
few seconds (0.2 s at 60,000 exposures on SQLite, and growing). A seq is handed out at insert but seen at commit,
so on PostgreSQL a row can appear below the highest seq already read: each read goes back over the seqs of the
last COMMIT_LAG_S seconds and skips the rows it already has (`SeqTail`). The exposures read include the other
experiments' (one read of the log): a click after a later exposure of that product elsewhere is theirs.
"""
from __future__ import annotations

import threading
from collections import deque

import pandas as pd

from recsys.experiments import Experiment
from recsys.experiments.running_counts import Counts, RunningCounts
from service import experiments_db as store

COMMIT_LAG_S = 30.0  # a transaction that commits this long after taking its seq may be missed


class SeqTail:
    """Which rows of a log (a table with an increasing seq) have been read."""

    def __init__(self):
        self.after = 0  # every row with seq <= after has been read
        self._seen: set[int] = set()  # rows read with seq > after
        self._highest = 0
        self._marks: deque[tuple[float, int]] = deque()  # (monotonic time of a read, the highest seq read by then)

    def fresh(self, rows: pd.DataFrame, monotonic: float) -> pd.DataFrame:
        """Of the `rows` read with seq > `after`, those not read before; then moves `after` up to the highest seq
        read COMMIT_LAG_S ago."""
        rows = rows[~rows["seq"].isin(self._seen)]
        self._seen.update(rows["seq"].tolist())
        self._highest = max([self._highest, *rows["seq"].tolist()])
        self._marks.append((monotonic, self._highest))
        while monotonic - self._marks[0][0] >= COMMIT_LAG_S:
            self.after = self._marks.popleft()[1]
        self._seen = {seq for seq in self._seen if seq > self.after}
        return rows


class BanditTally:
    """A bandit experiment's counts (segment key -> arm -> (exposures, clicks)), kept up to date by `refresh`."""

    def __init__(self, experiment: Experiment):
        self.name, self.since = experiment.name, experiment.started_at or 0.0
        self._counts = RunningCounts(experiment.arm_names, experiment.attribution_window_s)
        self._exposures, self._clicks = SeqTail(), SeqTail()
        self._lock = threading.Lock()  # one refresh at a time: the counts fold each row in once

    def refresh(self, connection, now: float, monotonic: float) -> Counts:
        with self._lock:
            # Until the look-back has passed once, a read goes back to the start: only the experiment's shoppers.
            shown = self._exposures.fresh(store.exposures_after(connection, self.name, self._exposures.after,
                                                                self.since, of_experiment=self._exposures.after == 0),
                                          monotonic)
            whose = self.name if self._clicks.after == 0 else None
            clicked = store.clicks_after(connection, self.since, self._clicks.after, of_experiment=whose)
            own = (shown["experiment"] == self.name).to_numpy()
            return self._counts.update(shown[own], self._clicks.fresh(clicked, monotonic), now,
                                       elsewhere=shown[~own])
