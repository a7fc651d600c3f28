"""The learning-loop simulation's own bookkeeping: the clicks it posts reach the decisions that drew them, and
its summary reads the truth it was given (the lab: SIMULATED shoppers, the real API)."""
import numpy as np
import pandas as pd

from lab.loop_simulation import LoopConfig, LoopLab, _best_gaps, _ips_errors, hidden_likings, run_round

PHOTO_ARMS = [{"name": name, "weight": 1, "presentation": {"kind": "upscaled"}} for name in ("photo", "photo-again")]


def test_every_posted_click_is_credited_to_the_decision_that_drew_it(tmp_path):
    """Shoppers come back within a second here; a click stamped later than now was credited to their next visit."""
    lab = LoopLab(tmp_path, LoopConfig(products=8, shoppers=60, segments=2), "embedded", "embedded", log=lambda *a: None)
    shoppers = lab.shoppers_by_segment()
    assert sum(len(users) for users in shoppers.values()) == 60  # every simulated shopper, not the API's first page
    likings = hidden_likings(lab, sorted(shoppers))
    finished = run_round(lab, 0, shoppers, likings, "check", PHOTO_ARMS, decisions_per_segment=60)
    decisions, off_policy = finished["decisions"], finished["results"]["off_policy"]
    assert len(decisions) == off_policy["decisions"] == 60 * len(shoppers)
    assert decisions.groupby("segment")["user"].nunique().max() < 60  # shoppers did come back
    assert (decisions["clicks"] > 0).sum() > 10
    assert off_policy["observed_reward"] == (decisions["clicks"] > 0).mean()


def _decisions(arms: list[str], truth: dict[str, float], counts: dict[str, int]) -> pd.DataFrame:
    rows = [{"segment": 0, "arm": arm, **{f"decision_rate:{a}": truth[a] for a in arms}}
            for arm, n in counts.items() for _ in range(n)]
    return pd.DataFrame(rows)


def test_the_best_arm_is_found_when_it_is_the_most_played_and_a_miss_says_what_it_cost():
    arms, truth = ["photo", "scene-0", "scene-1"], {"photo": 0.1, "scene-0": 0.2, "scene-1": 0.3}
    assert _best_gaps({"decisions": _decisions(arms, truth, {"photo": 20, "scene-0": 10, "scene-1": 70})}) == [0.0]
    missed = _best_gaps({"decisions": _decisions(arms, truth, {"photo": 20, "scene-0": 70, "scene-1": 10})})
    assert np.allclose(missed, [0.1])


def test_ips_error_is_the_distance_from_each_arms_true_rate():
    arms, truth = ["photo", "scene-0"], {"photo": 0.1, "scene-0": 0.3}
    finished = {"decisions": _decisions(arms, truth, {"photo": 5, "scene-0": 5}),
                "results": {"off_policy": {"arms": {"photo": {"ips": {"value": 0.12}}, "scene-0": {"ips": {"value": 0.25}},
                                                    "gone": {"error": "no decisions"}}}}}
    assert np.allclose(_ips_errors(finished), [0.02, 0.05])
