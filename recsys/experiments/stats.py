"""The statistics behind the results: normal intervals, two-arm comparisons, CUPED, SRM.

Every metric reaches `compare` as one value per user (the unit of randomisation); ratio
metrics arrive linearised (analysis.linearised), which makes the plain variance of the mean
equal to the delta-method variance of the ratio (Deng et al., "Applying the Delta Method in
Metric Analytics", KDD 2018). Variances are the plug-in (ddof=0) ones, so for a 0/1 metric
the standard error is the textbook sqrt(p(1-p)/n).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

SRM_ALPHA = 0.001  # a sample-ratio mismatch is flagged below this p-value


def z_value(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def normal_interval(estimate: float, se: float, confidence: float = 0.95) -> tuple[float, float]:
    half = z_value(confidence) * se
    return estimate - half, estimate + half


def interval_se(interval, confidence: float = 0.95) -> float:
    """The standard error behind a normal interval [low, high] (normal_interval's inverse)."""
    return (interval[1] - interval[0]) / (2 * z_value(confidence))


def proportion_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wald interval p ± z sqrt(p(1-p)/n)."""
    p = successes / n
    return normal_interval(p, np.sqrt(p * (1 - p) / n), confidence)


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion: inside [0, 1], and not empty at 0 or n successes (Wald's is)."""
    z = z_value(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def mean_and_variance(values: np.ndarray) -> tuple[float, float]:
    """The mean and the variance of that mean."""
    return float(values.mean()), float(values.var() / len(values))


def clustered_mean_and_variance(values: np.ndarray, clusters: np.ndarray) -> tuple[float, float]:
    """The mean and the variance of that mean when values of one cluster (a shopper's decisions, which share a
    draw) are not independent: the deviations are summed per cluster before squaring (the sandwich estimator,
    with the G / (G - 1) small-sample factor). Values in clusters of one give mean_and_variance's x G / (G - 1)."""
    values = np.asarray(values, dtype=float)
    inverse = np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()
    sums = np.bincount(inverse, values - values.mean())
    groups = len(sums)
    factor = groups / (groups - 1) if groups > 1 else 1.0
    return float(values.mean()), float(factor * (sums ** 2).sum() / len(values) ** 2)


def compare(treatment: np.ndarray, control: np.ndarray, confidence: float = 0.95) -> dict:
    """Absolute and relative difference of means with normal intervals; p-value of no difference."""
    mt, vt = mean_and_variance(np.asarray(treatment, dtype=float))
    mc, vc = mean_and_variance(np.asarray(control, dtype=float))
    absolute, se = mt - mc, np.sqrt(vt + vc)
    # Delta method for mt / mc - 1, treating the two arms as independent.
    relative = mt / mc - 1 if mc else float("nan")
    relative_se = np.sqrt(vt / mc**2 + mt**2 * vc / mc**4) if mc else float("nan")
    p_value = float(2 * stats.norm.sf(abs(absolute) / se)) if se > 0 else (1.0 if absolute == 0 else 0.0)
    return {"treatment": mt, "control": mc,
            "absolute": absolute, "absolute_ci": normal_interval(absolute, se, confidence),
            "relative": relative, "relative_ci": normal_interval(relative, relative_se, confidence),
            "se": float(se), "p_value": p_value}


def cuped_adjusted(values: np.ndarray, covariate: np.ndarray) -> np.ndarray:
    """values - theta (covariate - mean), theta = cov / var over all users of the compared arms
    (Deng et al., "Improving the Sensitivity of Online Controlled Experiments by Utilizing
    Pre-Experiment Data", WSDM 2013). The mean is unchanged; the variance shrinks by corr^2."""
    covariate = np.asarray(covariate, dtype=float)
    spread = covariate.var()
    if spread == 0:
        return np.asarray(values, dtype=float)
    theta = np.cov(values, covariate, ddof=0)[0, 1] / spread
    return values - theta * (covariate - covariate.mean())


def srm_test(observed, expected_shares) -> dict:
    """Chi-squared goodness of fit of users per arm against the shares the weights promise."""
    observed = np.asarray(observed, dtype=float)
    shares = np.asarray(expected_shares, dtype=float)
    expected = shares / shares.sum() * observed.sum()
    live = expected > 0  # an arm weighted 0 throughout expects nobody; any user there is a mismatch
    if (observed[~live] > 0).any():
        return {"chi2": float("inf"), "p_value": 0.0, "mismatch": True}
    chi2, p_value = stats.chisquare(observed[live], expected[live])
    return {"chi2": float(chi2), "p_value": float(p_value), "mismatch": bool(p_value < SRM_ALPHA)}
