"""Results as one flat table (for CSV): a row per scope, arm and metric.

Scopes: "all" and "<breakdown>=<value>" (the fixed analysis: every metric, lifts, over the fixed split's
exposures; none without one); "segment=<key>" (every
exposure in the taste segment, metric ctr: clicks, shares, the bandit's probability, an example image URL);
"off_policy" (metrics decision_ctr_ips / _snips / _dr: an arm's estimated decision click rate, `decisions` logged).
"""
from __future__ import annotations

import pandas as pd

from recsys.experiments.analysis import METRIC_PARTS

COLUMNS = ("scope", "arm", "metric", "users", "exposures", "value", "value_ci_low", "value_ci_high",
           "absolute_lift", "absolute_ci_low", "absolute_ci_high", "relative_lift", "relative_ci_low",
           "relative_ci_high", "p_value", "cuped_relative_lift", "cuped_ci_low", "cuped_ci_high",
           "cuped_p_value", "srm_p_value", "srm_mismatch", "simulated",
           "segment", "clicks", "exposure_share", "decision_share", "decisions", "bandit_probability", "image_url")


COUNT_COLUMNS = ("users", "exposures", "clicks", "decisions")


def results_table(results: dict) -> pd.DataFrame:
    """`results` is Results.to_dict(); scope is "all" or "<breakdown>=<value>" (e.g. slot=cards). Without a fixed
    split's exposure (an experiment run as a bandit throughout), the fixed analysis' rows would be zeros: left out."""
    scopes = [("all", results["arms"], results["lifts"])]
    scopes += [(f"{column}={value}", part["arms"], part["lifts"])
               for column, values in results.get("breakdowns", {}).items() for value, part in values.items()]
    if (results.get("exposures_by_allocation") or {}).get("fixed") == 0:
        scopes = []
    rows = [_row(scope, arm, metric, lifts, results) for scope, arms, lifts in scopes
            for arm in arms for metric in METRIC_PARTS]
    rows += [_segment_row(key, part, arm, results) for key, part in results.get("segments", {}).items()
             for arm in part["arms"]]
    off_policy = results.get("off_policy") or {}
    rows += [_off_policy_row(arm, method, estimate, results) for arm, estimates in off_policy.get("arms", {}).items()
             for method, estimate in estimates.items() if method != "error"]
    # counts as whole numbers, left empty where a row has none (not 3.0)
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(dict.fromkeys(COUNT_COLUMNS, "Int64"))


def _segment_row(key: str, part: dict, arm: dict, results: dict) -> dict:
    interval = arm.get("ctr_ci") or (None, None)
    return {"scope": f"segment={key}", "segment": key, "arm": arm["arm"], "metric": "ctr", "users": arm["users"],
            "exposures": arm["exposures"], "clicks": arm["clicks"], "value": arm["ctr"], "value_ci_low": interval[0],
            "value_ci_high": interval[1], "exposure_share": arm["exposure_share"],
            "decision_share": arm["decision_share"], "decisions": arm["decisions"],
            "bandit_probability": arm["probability"], "image_url": arm["image_url"],
            "simulated": results.get("simulated", False)}


def _off_policy_row(arm: str, method: str, estimate: dict, results: dict) -> dict:
    return {"scope": "off_policy", "arm": arm, "metric": f"decision_ctr_{method}", "value": estimate["value"],
            "value_ci_low": estimate["interval"][0], "value_ci_high": estimate["interval"][1],
            "decisions": estimate["decisions"], "simulated": results.get("simulated", False)}


def _row(scope: str, arm: dict, metric: str, lifts: list[dict], results: dict) -> dict:
    interval = arm.get(f"{metric}_ci") or (None, None)
    lift = next((e for e in lifts if e["arm"] == arm["arm"] and e["metric"] == metric), None)
    row = {"scope": scope, "arm": arm["arm"], "metric": metric, "users": arm["users"], "exposures": arm["exposures"],
           "value": arm.get(metric), "value_ci_low": interval[0], "value_ci_high": interval[1],
           "srm_p_value": results["srm"].get("p_value"), "srm_mismatch": results["srm"].get("mismatch"),
           "simulated": results.get("simulated", False)}
    if lift:
        cuped = lift["cuped"]
        row.update(absolute_lift=lift["absolute"], absolute_ci_low=lift["absolute_ci"][0],
                   absolute_ci_high=lift["absolute_ci"][1], relative_lift=lift["relative"],
                   relative_ci_low=lift["relative_ci"][0], relative_ci_high=lift["relative_ci"][1],
                   p_value=lift["p_value"], cuped_relative_lift=cuped["relative"],
                   cuped_ci_low=cuped["relative_ci"][0], cuped_ci_high=cuped["relative_ci"][1],
                   cuped_p_value=cuped["p_value"])
    return row
