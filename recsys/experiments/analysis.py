"""Results of an experiment: per-arm metrics, lifts against the control, SRM, CUPED, breakdowns.

Metrics (per arm, over users who saw only that arm):
- ctr              = clicked exposures / exposures       (ratio metric, delta method)
- add_to_cart_rate = carted exposures / exposures        (ratio metric, delta method)
- conversion_rate  = users with a purchase / users       (proportion of users)
The user is the unit of randomisation, so every metric is turned into one value per user
before any variance is taken; exposures of one user are not independent draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.experiments.attribution import Attribution
from recsys.experiments.model import Experiment
from recsys.experiments.stats import compare, cuped_adjusted, normal_interval, mean_and_variance, srm_test

METRIC_PARTS = {"ctr": ("clicks", "exposures"), "add_to_cart_rate": ("carts", "exposures"),
                "conversion_rate": ("converted", "one")}
BREAKDOWNS = ("slot", "position", "image")  # where the card was shown, its rank, the image actually served
CUMULATIVE_POINTS = 24


@dataclass
class Results:
    experiment: str
    control: str
    primary_metric: str
    arms: list[dict]
    lifts: list[dict]
    srm: dict
    attribution: dict
    breakdowns: dict = field(default_factory=dict)  # column -> value -> {"arms": [...], "lifts": [...]}
    cumulative: list[dict] = field(default_factory=list)
    simulated: bool = False

    def to_dict(self) -> dict:
        return _plain(self.__dict__)


def analyze(experiment: Experiment, attribution: Attribution, pre_period: pd.Series | None = None,
            confidence: float = 0.95, simulated: bool = False, detailed: bool = True) -> Results:
    """`pre_period`: activity per user_id before the start (e.g. clicks), for CUPED; absent users count 0.
    `detailed=False` skips the breakdowns and the cumulative curve (the costly parts)."""
    exposures = attribution.exposures
    users = user_table(exposures, pre_period)
    arms, lifts = compare_arms(users, experiment, confidence)
    results = Results(experiment=experiment.name, control=experiment.control.name,
                      primary_metric=experiment.primary_metric, arms=arms, lifts=lifts,
                      srm=sample_ratio_check(users, experiment), attribution=attribution.summary(), simulated=simulated)
    if detailed:
        results.breakdowns = {column: breakdown(exposures, column, experiment, pre_period, confidence)
                              for column in BREAKDOWNS}
        results.cumulative = cumulative_lift(exposures, experiment, pre_period, confidence)
    return results


def user_table(exposures: pd.DataFrame, pre_period: pd.Series | None = None) -> pd.DataFrame:
    """One row per user: arm, exposures, clicks, carts, purchases, converted, pre-period activity."""
    grouped = exposures.groupby("user_id")
    users = pd.DataFrame({
        "arm": grouped["arm"].first(), "exposures": grouped.size(), "clicks": grouped["clicked"].sum(),
        "carts": grouped["carted"].sum(), "purchases": grouped["purchased"].sum(),
        "first_seen": grouped["timestamp"].min()})
    users["converted"] = (users["purchases"] > 0).astype(float)
    users["one"] = 1.0
    users["pre_period"] = 0.0 if pre_period is None else pre_period.reindex(users.index).fillna(0.0).astype(float)
    return users


def linearised(users: pd.DataFrame, metric: str) -> pd.Series:
    """Per-user values whose arm mean is the arm's ratio and whose variance of the mean is the
    delta-method variance: R + (y - R x) / mean(x), with R = sum(y) / sum(x) in the user's arm."""
    numerator, denominator = METRIC_PARTS[metric]
    by_arm = users.groupby("arm")
    ratio = by_arm[numerator].transform("sum") / by_arm[denominator].transform("sum")
    return ratio + (users[numerator] - ratio * users[denominator]) / by_arm[denominator].transform("mean")


def compare_arms(users: pd.DataFrame, experiment: Experiment, confidence: float = 0.95) -> tuple[list, list]:
    """Per-arm summaries and, for every other arm and metric, the lift over the control."""
    values = {metric: linearised(users, metric) for metric in METRIC_PARTS}
    arms = [arm_summary(users, values, arm, confidence) for arm in experiment.arm_names]
    control = users["arm"] == experiment.control.name
    lifts = [lift(values[metric], users, users["arm"] == arm, control, arm, metric, confidence)
             for arm in experiment.arm_names[1:] for metric in METRIC_PARTS]
    return arms, [entry for entry in lifts if entry is not None]


def arm_summary(users: pd.DataFrame, values: dict, arm: str, confidence: float) -> dict:
    mine = users["arm"] == arm
    summary = {"arm": arm, "users": int(mine.sum()), **{c: int(users.loc[mine, c].sum())
               for c in ("exposures", "clicks", "carts", "purchases")}}
    for metric, per_user in values.items():
        if not mine.any():
            summary[metric], summary[f"{metric}_ci"] = None, None
            continue
        mean, variance = mean_and_variance(per_user[mine].to_numpy())
        summary[metric], summary[f"{metric}_ci"] = mean, normal_interval(mean, np.sqrt(variance), confidence)
    return summary


def lift(values: pd.Series, users: pd.DataFrame, treated: pd.Series, control: pd.Series, arm: str, metric: str,
         confidence: float) -> dict | None:
    """Lift of one arm over the control on one metric, plain and CUPED-adjusted; None if an arm is empty."""
    if not treated.any() or not control.any():
        return None
    both = treated | control
    plain = compare(values[treated].to_numpy(), values[control].to_numpy(), confidence)
    adjusted_values = pd.Series(cuped_adjusted(values[both].to_numpy(), users.loc[both, "pre_period"].to_numpy()),
                                index=values[both].index)
    cuped = compare(adjusted_values[treated[both]].to_numpy(), adjusted_values[control[both]].to_numpy(), confidence)
    reduction = 1 - (cuped["se"] / plain["se"]) ** 2 if plain["se"] > 0 else 0.0
    return {"arm": arm, "metric": metric, **plain, "significant": plain["p_value"] < 1 - confidence,
            "cuped": {k: cuped[k] for k in ("relative", "relative_ci", "absolute", "absolute_ci", "p_value")},
            "cuped_variance_reduction": reduction}


def sample_ratio_check(users: pd.DataFrame, experiment: Experiment) -> dict:
    """Users per arm against what the weights in force when each user arrived promise."""
    observed = users["arm"].value_counts().reindex(list(experiment.arm_names), fill_value=0).to_numpy()
    if observed.sum() == 0:
        return {"observed": observed.tolist(), "expected_shares": None, "chi2": None, "p_value": None, "mismatch": False}
    shares = expected_shares(users["first_seen"].to_numpy(), experiment)
    return {"observed": observed.tolist(), "expected_shares": shares.tolist(), **srm_test(observed, shares)}


def expected_shares(arrivals: np.ndarray, experiment: Experiment) -> np.ndarray:
    """Sum over users of the arm shares in force when they arrived (weights may change mid-flight)."""
    history = experiment.weight_history or ((float("-inf"), experiment.weights),)
    since = np.array([t for t, _ in history])
    weights = np.array([np.asarray(w, dtype=float) / sum(w) for _, w in history])
    period = np.clip(np.searchsorted(since, arrivals, side="right") - 1, 0, len(history) - 1)
    return weights[period].sum(axis=0) / len(arrivals)


def breakdown(exposures: pd.DataFrame, column: str, experiment: Experiment, pre_period, confidence) -> dict:
    """Arms and lifts within each value of `column` (e.g. per slot). Within a value, a user's
    exposures elsewhere are left out, so these are conditional on where the card was shown."""
    return {str(value): dict(zip(("arms", "lifts"), compare_arms(user_table(part, pre_period), experiment, confidence)))
            for value, part in exposures.groupby(column)}


def cumulative_lift(exposures: pd.DataFrame, experiment: Experiment, pre_period, confidence,
                    points: int = CUMULATIVE_POINTS) -> list[dict]:
    """Relative lift of the primary metric on the exposures up to each of `points` times, with its interval.
    Outcomes of those exposures count even if they came a little after the cut (within the window)."""
    if exposures.empty:
        return []
    metric = experiment.primary_metric
    control = experiment.control.name
    curve = []
    for cut in np.linspace(exposures["timestamp"].min(), exposures["timestamp"].max(), points + 1)[1:]:
        users = user_table(exposures[exposures["timestamp"] <= cut], pre_period)
        values = linearised(users, metric)
        for arm in experiment.arm_names[1:]:
            entry = lift(values, users, users["arm"] == arm, users["arm"] == control, arm, metric, confidence)
            if entry is not None:
                curve.append({"time": float(cut), "arm": arm, "users": len(users), "relative": entry["relative"],
                              "relative_ci": entry["relative_ci"], "p_value": entry["p_value"]})
    return curve


def _plain(value):
    """JSON-ready: tuples to lists, numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value


json_ready = _plain  # for other parts of the results (per segment, off-policy) built outside analyze
