"""Outcomes to exposures: which clicks, add-to-carts and purchases each served card earned.

An event counts for an exposure when it is the same user and product and happens within the
attribution window after it; it goes to the latest such exposure. Each exposure earns each
outcome at most once (a double click is one click). Users who were served more than one arm
(a changed assignment, a bug, shared ids) are counted and left out of the analysis, since
their outcomes cannot be credited to one arm; `keep_multi_arm=True` keeps them (a bandit serves
one user several arms on purpose, and its analysis is per exposure and per decision, not per user).
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

    def summary(self) -> dict:
        return {"multi_arm_users_excluded": self.multi_arm_users,
                "multi_arm_exposures_excluded": self.multi_arm_exposures,
                "attributed_events": self.attributed, "unattributed_events": self.unattributed}


def attribute(exposures: pd.DataFrame, events: pd.DataFrame, window_s: float,
              keep_multi_arm: bool = False) -> Attribution:
    exposures = _exposure_table(exposures)
    events = _event_table(events)
    arms_per_user = exposures.groupby("user_id")["arm"].nunique()
    mixed = arms_per_user.index[(arms_per_user > 1) & (not keep_multi_arm)]
    single = exposures[~exposures["user_id"].isin(mixed)].reset_index(drop=True)
    single["exposure_row"] = single.index
    attributed, unattributed = {}, {}
    for event_type, flag in OUTCOMES.items():
        of_type = events[events["type"] == event_type]
        hits = _latest_exposure_within(single, of_type, window_s)
        single[flag] = single["exposure_row"].isin(hits.dropna())
        attributed[event_type] = int(hits.notna().sum())
        unattributed[event_type] = int(hits.isna().sum())
    return Attribution(single.drop(columns="exposure_row"), multi_arm_users=len(mixed),
                       multi_arm_exposures=int(len(exposures) - len(single)),
                       attributed=attributed, unattributed=unattributed)


def _latest_exposure_within(exposures: pd.DataFrame, events: pd.DataFrame, window_s: float) -> pd.Series:
    """Per event, the exposure_row it is credited to (NaN: none of that user and product in the window)."""
    if events.empty:
        return pd.Series(dtype=float)
    matched = pd.merge_asof(
        events.sort_values("timestamp"), exposures[["user_id", "item_id", "timestamp", "exposure_row"]]
        .sort_values("timestamp"), on="timestamp", by=["user_id", "item_id"], direction="backward",
        tolerance=float(window_s))
    return matched["exposure_row"]


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
