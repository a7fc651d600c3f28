"""SIMULATED bandit experiments with known click rates, to check the bandit mode and its off-policy estimates.

Each segment is an independent experiment over `arms` Bernoulli arms (arm 0 is the control).
Its base click rate is drawn in `base_ctr`; in the planted scenario one arm, drawn at random
(the control included), clicks at base x (1 + best_lift) and the others at base x U(1 - best_lift, 1),
so the best arm is at least best_lift (relative) above the next; in the A/A scenario every arm
clicks at the base rate. The bandit serves batches of `batch_size` decisions per segment with the
probabilities of the counts so far, then the counts are updated, as a server refreshing them would.
Decisions are drawn with the same inverse CDF as production (bandit.choose_many) on seeded uniform
draws instead of hashed ones. Nothing here is real behaviour.

    lab = BanditLab(segments=40, exposures_per_segment=5000)
    simulate_bandit(lab)  # {"best_arm_found_rate": ..., "aa_false_winner_rate": ..., "ips_error": ...}

Reported (the bars of issue #16 in brackets):
- best_arm_found_rate  planted segments whose most-played arm is the truly best   [>= 0.9]
- regret_share         clicks lost against always showing the best arm, as a share of the oracle's clicks
                       (fixed_split_regret_share: the same for an even split, for comparison)
- planted_winner_power planted segments whose best arm is a variant where the winner rule names it
                       (planted_wrong_winner_rate: segments where it names an arm that is not the best)
- aa_false_winner_rate A/A segments where the winner rule (bandit.winner) declares a winner [<= 0.05]
- ips_error            mean |IPS estimate - true rate| over planted segments and arms [<= 0.01]
                       (snips_error, dr_error likewise; ips_coverage: share of 95 % intervals holding the truth)
- srm_false_alarm_rate segments of both scenarios whose bandit SRM check flags a mismatch (should be ~0)

With the defaults (3 arms, best_lift 0.25, base rates 3-8 %, 200 segments per scenario, counts refreshed
every 1,000 decisions) the bars hold at 10,000 exposures per segment: best_arm_found_rate 0.975,
aa_false_winner_rate 0.005, ips_error 0.0055 (ips_coverage 0.95, regret_share 0.088 against 0.20 for
an even split). With two arms the A/A rate is higher (3 % of 600 segments; see bandit.winner).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from features.checks import check_fields, number, whole
from lab.experiment_simulation import SIMULATED_NOTE
from recsys.experiments.bandit import (BanditConfig, bandit_srm, choose_many, mixed_shares, probability_best,
                                       winner)
from recsys.experiments.model import ExperimentError
from recsys.experiments.off_policy import DecisionLog, off_policy_estimates


@dataclass
class BanditLab:
    arms: int = 3
    segments: int = 200  # independent segment experiments per scenario (planted, A/A)
    exposures_per_segment: int = 10_000  # the bars of issue #16 hold here (see the module docstring)
    batch_size: int = 1_000  # decisions between two refreshes of the counts
    base_ctr: tuple[float, float] = (0.03, 0.08)
    best_lift: float = 0.25
    seed: int = 0
    config: BanditConfig = field(default_factory=BanditConfig)

    def check_inputs(self) -> None:
        check_fields(self, ExperimentError, (
            ("arms", whole(self.arms, 2), "an integer >= 2"),
            ("segments", whole(self.segments, 1), "an integer >= 1"),
            ("exposures_per_segment", whole(self.exposures_per_segment, 1), "an integer >= 1"),
            ("batch_size", whole(self.batch_size, 1), "an integer >= 1"),
            ("base_ctr", isinstance(self.base_ctr, (tuple, list)) and len(self.base_ctr) == 2
             and all(number(p, 0, 1) for p in self.base_ctr)
             and self.base_ctr[0] <= self.base_ctr[1] and number(self.best_lift)
             and self.base_ctr[1] * (1 + self.best_lift) <= 1,
             "(low, high) click rates with low <= high and high x (1 + best_lift) <= 1"),
            ("best_lift", number(self.best_lift, 0, 1, above=True), "a relative lift in (0, 1]"),
            ("seed", whole(self.seed, 0), "an integer >= 0"),
            ("config", isinstance(self.config, BanditConfig), "a BanditConfig"),
        ))
        self.config.control_index(self.arm_names)

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(f"arm{k}" for k in range(self.arms))


@dataclass
class SegmentLogs:
    """What the bandit did in every segment: shown arm and reward per decision, the shares per batch."""

    rates: np.ndarray  # (segments, arms) true click rates
    shown: np.ndarray  # (segments, exposures) arm index
    reward: np.ndarray  # (segments, exposures) 0/1
    shares: np.ndarray  # (segments, batches, arms) assignment probabilities in force in each batch
    exposures: np.ndarray  # (segments, arms) final counts
    clicks: np.ndarray

    def decision_log(self, segment: int, arms: tuple[str, ...], batch_size: int) -> DecisionLog:
        n = self.shown.shape[1]
        probabilities = np.repeat(self.shares[segment], batch_size, axis=0)[:n]
        return DecisionLog(arms, self.shown[segment], None, self.reward[segment], probabilities=probabilities)


def planted_rates(lab: BanditLab, rng: np.random.Generator) -> np.ndarray:
    base = rng.uniform(*lab.base_ctr, (lab.segments, 1))
    relative = rng.uniform(1 - lab.best_lift, 1, (lab.segments, lab.arms))
    relative[np.arange(lab.segments), rng.integers(0, lab.arms, lab.segments)] = 1 + lab.best_lift
    return base * relative


def aa_rates(lab: BanditLab, rng: np.random.Generator) -> np.ndarray:
    return np.repeat(rng.uniform(*lab.base_ctr, (lab.segments, 1)), lab.arms, axis=1)


def run_bandit(lab: BanditLab, rates: np.ndarray, rng: np.random.Generator) -> SegmentLogs:
    """All segments in lock step, one batch at a time (the segments do not interact)."""
    config, (segments, arms) = lab.config, rates.shape
    control = config.control_index(lab.arm_names)
    exposures, clicks = np.zeros((segments, arms), int), np.zeros((segments, arms), int)
    shown, reward, shares = [], [], []
    for start in range(0, lab.exposures_per_segment, lab.batch_size):
        size = min(lab.batch_size, lab.exposures_per_segment - start)
        best = probability_best(config.prior_alpha + clicks, config.prior_beta + exposures - clicks)
        batch_shares = mixed_shares(best, control, config.control_share, config.min_share)
        draws = rng.random((segments, size))
        batch_shown = np.array([choose_many(batch_shares[s], draws[s]) for s in range(segments)])
        batch_reward = rng.random((segments, size)) < np.take_along_axis(rates, batch_shown, axis=1)
        for s in range(segments):
            exposures[s] += np.bincount(batch_shown[s], minlength=arms)
            clicks[s] += np.bincount(batch_shown[s], batch_reward[s], arms).astype(int)
        shown.append(batch_shown), reward.append(batch_reward), shares.append(batch_shares)
    return SegmentLogs(rates, np.hstack(shown), np.hstack(reward).astype(float), np.stack(shares, axis=1),
                       exposures, clicks)


def declared_winners(lab: BanditLab, logs: SegmentLogs) -> np.ndarray:
    """Index of the arm the winner rule declares per segment; -1: none."""
    counts = [{arm: (int(n), int(c)) for arm, n, c in zip(lab.arm_names, logs.exposures[s], logs.clicks[s])}
              for s in range(len(logs.rates))]
    declared = [winner(lab.config, lab.arm_names, segment)["winner"] for segment in counts]
    return np.array([-1 if arm is None else lab.arm_names.index(arm) for arm in declared])


def planted_winner_rates(lab: BanditLab, logs: SegmentLogs) -> dict:
    """Power: segments whose best arm is a variant where the rule names it; wrong: it names another arm."""
    declared, best = declared_winners(lab, logs), logs.rates.argmax(axis=1)
    variant_best = best != lab.config.control_index(lab.arm_names)
    return {"planted_winner_power": float(np.mean(declared[variant_best] == best[variant_best])),
            "planted_wrong_winner_rate": float(np.mean((declared >= 0) & (declared != best)))}


def off_policy_errors(lab: BanditLab, logs: SegmentLogs) -> dict:
    """Mean |estimate - true rate| of each estimator over segments and arms, and the IPS interval coverage."""
    errors, covered = {"ips": [], "snips": [], "dr": []}, []
    for s in range(len(logs.rates)):
        log = logs.decision_log(s, lab.arm_names, lab.batch_size)
        for k, arm in enumerate(lab.arm_names):
            estimates = off_policy_estimates(log, arm)
            for method, estimate in estimates.items():
                errors[method].append(abs(estimate.value - logs.rates[s, k]))
            low, high = estimates["ips"].interval
            covered.append(low <= logs.rates[s, k] <= high)
    return {**{f"{method}_error": float(np.mean(e)) for method, e in errors.items()},
            "ips_coverage": float(np.mean(covered))}


def regret_shares(logs: SegmentLogs) -> tuple[float, float]:
    """Expected clicks lost against the oracle, as a share of its clicks: the bandit's, an even split's."""
    best = logs.rates.max(axis=1)
    served = np.take_along_axis(logs.rates, logs.shown, axis=1).mean(axis=1)
    return float(np.mean((best - served) / best)), float(np.mean((best - logs.rates.mean(axis=1)) / best))


def srm_flags(lab: BanditLab, logs: SegmentLogs) -> list[bool]:
    return [bandit_srm(logs.decision_log(s, lab.arm_names, lab.batch_size))["mismatch"]
            for s in range(len(logs.rates))]


def simulate_bandit(lab: BanditLab | None = None) -> dict:
    lab = lab or BanditLab()
    lab.check_inputs()
    planted_rng, aa_rng = (np.random.default_rng(seed) for seed in np.random.SeedSequence(lab.seed).spawn(2))
    planted = run_bandit(lab, planted_rates(lab, planted_rng), planted_rng)
    aa = run_bandit(lab, aa_rates(lab, aa_rng), aa_rng)
    regret, fixed_split_regret = regret_shares(planted)
    return {
        "best_arm_found_rate": float(np.mean(planted.exposures.argmax(axis=1) == planted.rates.argmax(axis=1))),
        "regret_share": regret, "fixed_split_regret_share": fixed_split_regret,
        "aa_false_winner_rate": float(np.mean(declared_winners(lab, aa) >= 0)),
        **planted_winner_rates(lab, planted),
        **off_policy_errors(lab, planted),
        "srm_false_alarm_rate": float(np.mean(srm_flags(lab, planted) + srm_flags(lab, aa))),
        "exposures_per_segment": lab.exposures_per_segment, "segments": lab.segments, "arms": lab.arms,
        "batch_size": lab.batch_size, "seed": lab.seed, "simulated": SIMULATED_NOTE,
    }


def best_arm_found_by_exposures(rates, exposures: list[int], segments: int = 40, batch_size: int = 1_000,
                                seed: int = 0) -> dict:
    """SIMULATED: how many exposures per segment the bandit needs to find the best of arms with these click rates
    (arm 0 the control). For each budget, `segments` independent segments with exactly these rates; reported:
    the share whose most-played arm is the best (issue #16's reading) and whose leader at the end is (the
    variant of highest posterior probability of being best, what an analyst reads)."""
    rates = np.asarray(rates, dtype=float)
    valid = rates.ndim == 1 and len(rates) >= 2 and all(number(r, 0, 1) for r in rates)
    if not valid or (rates == rates.max()).sum() > 1:
        raise ExperimentError(f"rates must be 2 or more click rates in [0, 1], the control's first, one of them the "
                              f"highest; got {rates.tolist()}")
    best, rows = int(rates.argmax()), []
    for budget in exposures:
        lab = BanditLab(arms=len(rates), segments=segments, exposures_per_segment=budget, batch_size=batch_size,
                        seed=seed)
        lab.check_inputs()
        logs = run_bandit(lab, np.repeat(rates[None], segments, axis=0), np.random.default_rng(seed))
        config = lab.config  # the leader by the final counts, not by the last batch's shares (a batch behind)
        final_best = probability_best(config.prior_alpha + logs.clicks, config.prior_beta + logs.exposures - logs.clicks)
        leaders = final_best[:, 1:].argmax(axis=1) + 1
        rows.append({"exposures_per_segment": budget,
                     "most_played_is_best": float(np.mean(logs.exposures.argmax(axis=1) == best)),
                     "leader_is_best": float(np.mean(leaders == best)) if best else None})
    return {"rates": rates.tolist(), "segments": segments, "batch_size": batch_size, "seed": seed,
            "budgets": rows, "simulated": SIMULATED_NOTE}
