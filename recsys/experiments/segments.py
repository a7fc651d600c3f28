"""Per taste segment results and the bandit's decision log: what the results page and CSV show per segment.

Input is the attributed exposures of every user (attribution.attribute(..., keep_multi_arm=True): a bandit
serves one user several arms on purpose), with columns segment (None: unknown), image_url and decision
(the bandit decision the exposure was served in; None under a fixed split), and the logged decisions
(seq, segment, arm, probability, probabilities: arm -> probability).

Per segment and arm:
- exposures, clicks, users; ctr = clicks / exposures with a 95 % interval by the delta method over users
  (a user's exposures are not independent draws: the variance is clustered by user);
- exposure_share (of the segment's exposures) and, where the bandit decided, decision_share and decisions;
- probability: the bandit's current probability (given by the caller, from the same counts it serves with);
- image_url: the most recent exposure's image (an example of what the arm shows in that segment).

Off-policy estimates use one reward per decision: 1 when any card served in it earned a click (attributed as
everywhere: the latest exposure of that user and product within the window), else 0. So they estimate an
arm's *decision* click rate (a cards response with at least one click), per decision, not per card.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from recsys.experiments.bandit import bandit_srm
from recsys.experiments.model import ExperimentError
from recsys.experiments.off_policy import DecisionLog, off_policy_estimates
from recsys.experiments.stats import normal_interval, wilson_interval

NO_SEGMENT = "none"  # the key of shoppers without a taste segment


def segment_key(segment) -> str:
    """"3" for segment 3; "none" for a shopper without one (None or NaN)."""
    if segment is None or (isinstance(segment, float) and np.isnan(segment)) or pd.isna(segment):
        return NO_SEGMENT
    return str(int(segment))


def _with_keys(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["segment_key"] = [segment_key(s) for s in frame["segment"]] if len(frame) else pd.Series(dtype=str)
    return frame


def segment_counts(exposures: pd.DataFrame, arms: Sequence[str]) -> dict[str, dict[str, tuple[int, int]]]:
    """segment key -> arm -> (exposures, clicks), from attributed exposures; what the bandit's posteriors need."""
    if exposures.empty:
        return {}
    frame = exposures[exposures["arm"].isin(list(arms))]
    segments = pd.to_numeric(frame["segment"], errors="coerce")  # None -> NaN; keyed per group, not per row
    grouped = frame.groupby([segments, frame["arm"]], dropna=False)["clicked"].agg(["size", "sum"])
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for (segment, arm), row in grouped.iterrows():
        counts.setdefault(segment_key(segment), {})[arm] = (int(row["size"]), int(row["sum"]))
    return counts


def clustered_ratio(clicks: np.ndarray, shown: np.ndarray, confidence: float = 0.95):
    """sum(clicks) / sum(shown) over users, with the delta-method interval clustered by user, widened to at least
    the Wilson interval of the exposures taken one by one: the delta method's is [0, 0] for an arm with no
    click yet, which would claim a rate known exactly. (None, None) when nothing was shown."""
    total = shown.sum()
    if total == 0:
        return None, None
    ratio = clicks.sum() / total
    n = len(shown)
    residual = clicks - ratio * shown
    variance = (residual ** 2).sum() / total ** 2 * (n / (n - 1) if n > 1 else 1.0)
    low, high = normal_interval(float(ratio), float(np.sqrt(variance)), confidence)
    floor_low, floor_high = wilson_interval(float(clicks.sum()), float(total), confidence)
    return float(ratio), (max(0.0, float(min(low, floor_low))), min(1.0, float(max(high, floor_high))))  # in [0, 1]


def segment_breakdown(exposures: pd.DataFrame, decisions: pd.DataFrame, arms: Sequence[str],
                      probabilities: Mapping[str, Mapping[str, float]] | None = None,
                      confidence: float = 0.95) -> dict[str, dict]:
    """segment key -> {"segment", "exposures", "decisions", "arms": [per-arm row, in arm order]}.
    `probabilities`: segment key -> arm -> the bandit's current probability (None: not a bandit)."""
    frame = _with_keys(exposures) if not exposures.empty else exposures.assign(segment_key=pd.Series(dtype=str))
    chosen = _with_keys(decisions) if not decisions.empty else decisions.assign(segment_key=pd.Series(dtype=str))
    keys = sorted(set(frame["segment_key"]) | set(chosen["segment_key"]) | set(probabilities or {}),
                  key=lambda k: (k == NO_SEGMENT, int(k) if k != NO_SEGMENT else 0))
    result = {}
    for key in keys:
        part = frame[frame["segment_key"] == key]
        made = chosen[chosen["segment_key"] == key]
        rows = [_arm_row(part, made, arm, (probabilities or {}).get(key), confidence) for arm in arms]
        result[key] = {"segment": None if key == NO_SEGMENT else int(key), "exposures": int(len(part)),
                       "decisions": int(len(made)), "arms": rows}
    return result


def _arm_row(part: pd.DataFrame, made: pd.DataFrame, arm: str, probabilities, confidence: float) -> dict:
    mine = part[part["arm"] == arm]
    per_user = mine.groupby("user_id")["clicked"].agg(["size", "sum"])
    ctr, ctr_ci = clustered_ratio(per_user["sum"].to_numpy(dtype=float), per_user["size"].to_numpy(dtype=float),
                                  confidence)
    decided = int((made["arm"] == arm).sum()) if len(made) else 0
    with_url = mine[mine["image_url"].notna()] if "image_url" in mine else mine.iloc[:0]
    example = with_url.loc[with_url["timestamp"].idxmax(), "image_url"] if len(with_url) else None
    return {"arm": arm, "users": int(len(per_user)), "exposures": int(len(mine)), "clicks": int(mine["clicked"].sum()),
            "ctr": ctr, "ctr_ci": ctr_ci,
            "exposure_share": len(mine) / len(part) if len(part) else None,
            "decisions": decided, "decision_share": decided / len(made) if len(made) else None,
            "probability": None if probabilities is None else float(probabilities.get(arm, 0.0)),
            "image_url": example}


def decision_log(decisions: pd.DataFrame, exposures: pd.DataFrame, arms: Sequence[str]) -> DecisionLog | None:
    """The logged decisions as an off_policy.DecisionLog (context: the segment; cluster: the shopper, whose
    decisions share a draw; reward: a click on any card served in the decision); None when there are none."""
    if decisions.empty:
        return None
    served = exposures[exposures["decision"].notna()] if "decision" in exposures else exposures.iloc[:0]
    clicked = served.groupby(served["decision"].astype("int64"))["clicked"].any() if len(served) else pd.Series(dtype=bool)
    reward = clicked.reindex(decisions["seq"].astype("int64").to_numpy(), fill_value=False).to_numpy(dtype=float)
    rows = np.array([[float((row or {}).get(arm, 0.0)) for arm in arms] for row in decisions["probabilities"]])
    contexts = np.array([segment_key(s) for s in decisions["segment"]])
    return DecisionLog(arms=tuple(arms), shown=decisions["arm"].to_numpy(dtype=object).astype(str), propensity=None,
                       reward=reward, probabilities=rows, context=contexts,
                       cluster=decisions["user_id"].to_numpy(dtype=object).astype(str))


def off_policy_summary(log: DecisionLog | None, arms: Sequence[str], confidence: float = 0.95) -> dict:
    """Per arm, IPS, self-normalised IPS and doubly robust estimates of its decision click rate had every
    decision shown it, with intervals; an arm the log cannot speak for says why."""
    if log is None:
        return {"decisions": 0, "reward": "decision_click", "arms": {}}
    estimates = {}
    for arm in arms:
        try:
            estimates[arm] = {method: estimate.to_dict()
                              for method, estimate in off_policy_estimates(log, arm, confidence=confidence).items()}
        except ExperimentError as exc:
            estimates[arm] = {"error": str(exc)}
    return {"decisions": len(log), "reward": "decision_click",
            "observed_reward": float(log.reward.mean()), "arms": estimates}


def srm_summary(log: DecisionLog | None) -> dict:
    """bandit.bandit_srm of the whole log and of each segment's part."""
    if log is None:
        return {"overall": None, "segments": {}}
    per_segment = {}
    for key in sorted(set(log.context.tolist())):
        keep = log.context == key
        part = DecisionLog(arms=log.arms, shown=log.shown[keep], propensity=None, reward=log.reward[keep],
                           probabilities=log.probabilities[keep], context=log.context[keep],
                           cluster=None if log.cluster is None else log.cluster[keep])
        per_segment[key] = bandit_srm(part)
    return {"overall": bandit_srm(log), "segments": per_segment}
