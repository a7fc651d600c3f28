"""Results feed the generator: a segment's next scenes are painted for a condition drawn toward the scenes that won.

    rewarded = rewarded_direction(winners, originals, losers, loser_originals)   # losers: optional
    condition = next_condition(current, rewarded, step=0.5)
    styles = next_styles(winner_style, rewarded, centres)   # the next round's styles, in order
    direction = fitted_direction(added_by_arm, gains, exposures)   # or: every arm, by what it earned

`winners` are CLIP embeddings of the winning scene cards, `originals` those of the same products' own photos.
What the backdrops added (winner minus original, so the product itself cancels) is the direction shoppers
rewarded; given the round's losing scenes too, what they added is taken away, so what every scene adds alike
(a backdrop rather than white) cancels and what set the winners apart remains. The part of it that is new to
the current condition turns the condition by `step` (0: stay, 1: 45 degrees toward it). The next round is
painted for that condition, so it keeps the segment's taste and leans to the backdrops that won. The fidelity rules do not change: every round is composited the same way.

Styles follow the winners too. The next round's styles (an arm with `round_style` j paints its j-th) start with
the style that won, then the other styles by how near their mean direction lies to what won: a round keeps its
winner and tries the styles most like it, so a segment can reach a style no round-0 arm painted (measured in
docs/benchmarks.md, "Styles follow the winners").

Or every scene arm of the round speaks, by what it earned: `fitted_direction` fits the direction shoppers reward
to the arms' click rates over the control's (a ridge regression on what each arm's backdrops added, weighted by
its exposures), so arms that earned little pull away from what they added and close arms are told apart by what
they added differently. The next round then paints backdrops that add that direction (aim "added"), its styles
ordered by nearness to it, instead of a point turned toward one winner; round 3 of the loop's ceiling came out
higher (docs/benchmarks.md, "Steering by every arm's click rate"). The part of the gains every arm shares is
what a control measured a little high or low moves, and an arm the bandit starved is measured loosely:
weighed by their intervals (`noise`), gains within their noise move the fit little; `between_arms` drops the
common part, with what every arm added alike.
"""
from __future__ import annotations

import numpy as np

from features.vectors import unit_rows
from imagegen.errors import PresentationError


def rewarded_direction(winners: np.ndarray, originals: np.ndarray, losers: np.ndarray | None = None,
                       loser_originals: np.ndarray | None = None) -> np.ndarray:
    """What the winning scenes' backdrops added (scene minus the product's photo, averaged), less what the losing
    scenes' added when they are given: what every scene adds alike cancels, what set the winners apart stays."""
    rewarded = _added(winners, originals, "winning")
    if losers is not None and len(losers):
        rewarded = rewarded - _added(losers, loser_originals, "losing")
    return rewarded


def _added(scenes: np.ndarray, originals: np.ndarray | None, which: str) -> np.ndarray:
    scenes, originals = np.atleast_2d(scenes), np.atleast_2d(originals if originals is not None else [])
    if scenes.shape != originals.shape or len(scenes) == 0:
        raise PresentationError(f"expected one original per {which} scene; got scenes {scenes.shape} and "
                                f"originals {originals.shape}")
    return (unit_rows(scenes) - unit_rows(originals)).mean(axis=0)


def next_condition(current: np.ndarray, rewarded: np.ndarray, step: float = 0.5) -> np.ndarray:
    """The next round's unit condition: `current` turned toward `rewarded` (rewarded_direction) by `step`."""
    if not 0 <= step <= 1:
        raise PresentationError(f"step must be in [0, 1]; got {step!r}")
    current = unit_rows(current)[0]
    new = rewarded - (rewarded @ current) * current  # what the condition does not say yet
    norm = np.linalg.norm(new)
    if norm < 1e-9:  # the winners add nothing the condition lacks: stay
        return current.astype(np.float32)
    return unit_rows(current + step * new / norm)[0].astype(np.float32)


def next_styles(winner_style: int | None, rewarded: np.ndarray, centres: np.ndarray) -> list[int]:
    """Every style once: the winners' style first (None: none was named), then the rest by the cosine of their
    centre (imagegen.scene.bank.style_centres) with `rewarded` (rewarded_direction), nearest first."""
    centres = np.atleast_2d(centres)
    if winner_style is not None and not 0 <= winner_style < len(centres):
        raise PresentationError(f"winner_style must be one of the {len(centres)} styles or None; got {winner_style!r}")
    nearness = unit_rows(centres, allow_zero=True) @ rewarded
    order = [int(k) for k in np.argsort(-nearness, kind="stable") if k != winner_style]
    return ([] if winner_style is None else [int(winner_style)]) + order


FITS = ("exposures", "intervals", "between-arms")  # how a fit weighs the arms' gains (service.scene_rounds)


def gain_noise(ctr_se, control_se: float) -> np.ndarray:
    """The covariance of the arms' measured gains over the control: each arm's own error (`ctr_se`, the standard
    error of its click rate) and the control's (`control_se`), which every gain shares."""
    ctr_se = np.asarray(ctr_se, dtype=np.float64).ravel()
    if not (np.isfinite(ctr_se).all() and (ctr_se >= 0).all() and np.isfinite(control_se) and control_se >= 0):
        raise PresentationError(f"expected finite standard errors >= 0; got {ctr_se.tolist()} for the arms and "
                                f"{control_se!r} for the control")
    return np.diag(ctr_se ** 2) + control_se ** 2


FIT_RIDGE = 0.01  # against the arms' unit directions (Gram diagonal 1): close arms are still told apart


def fitted_direction(added_by_arm: np.ndarray, gains: np.ndarray, exposures: np.ndarray | None = None,
                     ridge: float = FIT_RIDGE, between_arms: bool = False,
                     noise: np.ndarray | None = None) -> np.ndarray:
    """The unit direction whose likeness to what each arm's backdrops added (`added_by_arm`, one row per arm:
    rewarded_direction of its scenes) best explains the arm's `gains` (its click rate minus the control's),
    by ridge regression weighted by `exposures` (None: equal): the least-norm direction in the span of the arms.

    `between_arms`: only how the arms differ from one another speaks (gains and directions less their weighted
    means, as a free intercept would): an error in the control's rate, which shifts every gain alike, then moves
    nothing, and neither does what every arm added alike. Needs two arms at least.

    `noise` (gain_noise: the gains' error covariance, from their intervals) weighs each gain by how sure it is in
    place of `exposures`: a Bayesian ridge whose prior scale is what the gains vary by beyond their noise, so a gain
    within its noise (a starved arm's, or every gain's when the control is unsure) moves the direction little."""
    added = np.atleast_2d(np.asarray(added_by_arm, dtype=np.float64))
    gains = np.asarray(gains, dtype=np.float64).ravel()
    weights = np.ones(len(gains)) if exposures is None else np.asarray(exposures, dtype=np.float64).ravel()
    if not len(added) == len(gains) == len(weights) or len(gains) == 0:
        raise PresentationError(f"expected one gain and one exposure count per arm; got {len(added)} arms, "
                                f"{len(gains)} gains, {len(weights)} exposure counts")
    if not (np.isfinite(gains).all() and np.isfinite(weights).all() and (weights > 0).all()):
        raise PresentationError(f"gains must be finite and exposures > 0; got gains {gains.tolist()}, "
                                f"exposures {weights.tolist()}")
    if between_arms and noise is not None:  # centring would have to transform the noise too; no caller needs it
        raise PresentationError("fit between arms or by the gains' noise, not both")
    directions, targets = unit_rows(added, allow_zero=True), gains
    weights = weights / weights.mean()
    if between_arms:
        if len(gains) < 2:
            raise PresentationError(f"fitting between arms needs two arms at least; got {len(gains)} arm")
        mean = weights / len(weights)  # weights of the exposure-weighted mean
        targets, directions = gains - mean @ gains, directions - mean @ directions
    if noise is None:
        coefficients = np.linalg.solve(weights[:, None] * (directions @ directions.T) + ridge * np.eye(len(gains)),
                                       weights * targets)
    else:
        coefficients = np.linalg.solve(directions @ directions.T + ridge * np.eye(len(gains))
                                       + _checked_noise(noise, len(gains)) / _prior_scale(targets, noise), targets)
    fitted = directions.T @ coefficients
    if np.linalg.norm(fitted) < 1e-9:
        alike = " alike" if between_arms else ""
        raise PresentationError(f"the arms' gains {gains.tolist()} fit no direction (all zero{alike}, or their "
                                "backdrops added nothing apart): nothing to steer by")
    return unit_rows(fitted)[0].astype(np.float32)


def _checked_noise(noise, arms: int) -> np.ndarray:
    noise = np.asarray(noise, dtype=np.float64)
    if noise.shape != (arms, arms) or not np.isfinite(noise).all() or not np.allclose(noise, noise.T):
        raise PresentationError(f"expected a symmetric finite {arms}x{arms} noise covariance; got shape {noise.shape}")
    return noise


def _prior_scale(gains: np.ndarray, noise: np.ndarray) -> float:
    """How much the gains vary beyond their noise (the mean square less the mean noise variance), never below a
    thousandth of that noise: the prior variance of a gain along one arm's direction."""
    noise_variance = float(np.mean(np.diag(noise)))
    return max(float(np.mean(gains ** 2)) - noise_variance, 1e-3 * noise_variance, 1e-12)
