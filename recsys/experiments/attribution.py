"""Outcomes to exposures: which clicks, add-to-carts and purchases each served card earned.

An event counts for an exposure when it is the same user and product and happens within the
attribution window after it; it goes to the latest such exposure. Each exposure earns each
outcome at most once (a double click is one click). Users who were served more than one arm
(a changed assignment, a bug, shared ids) are counted and left out of the analysis, since
their outcomes cannot be credited to one arm; `keep_multi_arm=True` keeps them (a bandit serves
one user several arms on purpose, and its analysis is per exposure and per decision, not per user).

`elsewhere`: the same shoppers' exposures in other experiments. A click that follows a later exposure of
that product elsewhere belongs to that exposure, not to this experiment: without it, an experiment stopped
before another showed the same products to the same shoppers kept gaining the other's clicks (counted in
`credited_elsewhere`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from recsys.experiments.model import ExperimentError

OUTCOMES = {"click": "clicked", "add_to_cart": "carted", "purchase": "purchased"}  # event type -> flag column
EXPOSURE_COLUMNS = ("user_id", "arm", "item_id", "timestamp")
EXPOSURE_OPTIONAL = {"slot": "cards", "position": -1, "image": ""}
EVENT_COLUMNS = ("user_id", "item_id", "type", "timestamp")


@dataclass
class Attribution:
    """Exposures of single-arm users with outcome flags, and counts of everything left out."""

    exposures: pd.DataFrame
    multi_arm_users: int = 0
    multi_arm_exposures: int = 0
    attributed: dict = field(default_factory=dict)  # event type -> events credited to an exposure
    unattributed: dict = field(default_factory=dict)  # event type -> events with no exposure in the window
    credited_elsewhere: dict = field(default_factory=dict)  # event type -> events after a later exposure elsewhere

    def summary(self) -> dict:
        return {"multi_arm_users_excluded": self.multi_arm_users,
                "multi_arm_exposures_excluded": self.multi_arm_exposures,
                "attributed_events": self.attributed, "unattributed_events": self.unattributed,
                "credited_elsewhere_events": self.credited_elsewhere}


def attribute(exposures: pd.DataFrame, events: pd.DataFrame, window_s: float,
              keep_multi_arm: bool = False, elsewhere: pd.DataFrame | None = None) -> Attribution:
    exposures = _exposure_table(exposures)
    events = _event_table(events)
    elsewhere = None if elsewhere is None or elsewhere.empty else _typed(
        elsewhere[["user_id", "item_id", "timestamp"]].copy(), "exposures elsewhere")
    arms_per_user = exposures.groupby("user_id")["arm"].nunique()
    mixed = arms_per_user.index[(arms_per_user > 1) & (not keep_multi_arm)]
    single = exposures[~exposures["user_id"].isin(mixed)].reset_index(drop=True)
    single["exposure_row"] = single.index
    attributed, unattributed, taken = {}, {}, {}
    for event_type, flag in OUTCOMES.items():
        of_type = events[events["type"] == event_type]
        hits = _latest_exposure_within(single, of_type, window_s)
        later = _later_elsewhere(hits, elsewhere, window_s)
        credited = hits["exposure_row"][~later]
        single[flag] = single["exposure_row"].isin(credited.dropna())
        attributed[event_type] = int(credited.notna().sum())
        taken[event_type] = int(later.sum())
        unattributed[event_type] = int(hits["exposure_row"].isna().sum())
    return Attribution(single.drop(columns="exposure_row"), multi_arm_users=len(mixed),
                       multi_arm_exposures=int(len(exposures) - len(single)),
                       attributed=attributed, unattributed=unattributed, credited_elsewhere=taken)


def _latest_exposure_within(exposures: pd.DataFrame, events: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """Per event (user_id, item_id, timestamp), the exposure_row it is credited to and when that exposure was
    (NaN: none of that user and product in the window)."""
    columns = ["user_id", "item_id", "timestamp", "exposure_row", "exposed_at"]
    if events.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    mine = exposures[["user_id", "item_id", "timestamp", "exposure_row"]].assign(exposed_at=exposures["timestamp"])
    return pd.merge_asof(events.sort_values("timestamp"), mine.sort_values("timestamp"), on="timestamp",
                         by=["user_id", "item_id"], direction="backward", tolerance=float(window_s))[columns]


def _later_elsewhere(hits: pd.DataFrame, elsewhere: pd.DataFrame | None, window_s: float) -> pd.Series:
    """Per credited event, whether the shopper saw the product elsewhere after the exposure it was credited to."""
    if elsewhere is None or hits.empty:
        return pd.Series(False, index=hits.index)
    other = elsewhere.assign(elsewhere_at=elsewhere["timestamp"]).sort_values("timestamp")
    matched = pd.merge_asof(hits[["user_id", "item_id", "timestamp"]], other, on="timestamp",
                            by=["user_id", "item_id"], direction="backward", tolerance=float(window_s))
    return pd.Series((matched["elsewhere_at"] > hits["exposed_at"]).to_numpy(), index=hits.index)


def _exposure_table(frame: pd.DataFrame) -> pd.DataFrame:
    _require(frame, EXPOSURE_COLUMNS, "exposures")
    table = frame.copy()
    for column, default in EXPOSURE_OPTIONAL.items():
        if column not in table:
            table[column] = default
    return _typed(table, "exposures")


def _event_table(frame: pd.DataFrame) -> pd.DataFrame:
    _require(frame, EVENT_COLUMNS, "events")
    return _typed(frame[list(EVENT_COLUMNS)].copy(), "events")


def _typed(table: pd.DataFrame, what: str) -> pd.DataFrame:
    table["user_id"] = table["user_id"].astype(str)
    for column, dtype in (("item_id", "int64"), ("timestamp", "float64")):
        numbers = pd.to_numeric(table[column], errors="coerce")
        bad = numbers.isna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise ExperimentError(f"{what} row {row}: {column} must be a number; got {table[column].iloc[row]!r} "
                                  f"({int(bad.sum())} such row(s))")
        table[column] = numbers.astype(dtype)
    return table


def _require(frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ExperimentError(f"{what} lack column(s) {missing}; found {list(frame.columns)}, expected {list(columns)}")
