"""The statistics the paper's tables lacked: t confidence intervals over seeds, a paired-by-seed test
against the baseline with its CI and minimum detectable effect, Holm's correction within a table, a
regression slope with its CI, and steps-to-target (how the "~10 % of the steps" claim is tested).

    >>> holm([0.01, 0.04, 0.03])          # (3 * .01, max(3 * .01, 2 * .03), max(.06, 1 * .04))
    [0.03, 0.06, 0.06]
    >>> round(mde(sd_diff=0.02, n=8), 4)  # (t_.975,7 + t_.8,7) * 0.02 / sqrt(8)
    0.0231
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

CI_METHOD = "two-sided 95 % Student-t interval over seeds"
TEST_METHOD = "paired t-test over seeds the two methods share (two-sided)"
HOLM_METHOD = "Holm's step-down correction over the rows of this table"
POWER, ALPHA = 0.8, 0.05
MDE_METHOD = (f"minimum detectable effect at {POWER:.0%} power, two-sided α = {ALPHA:g}: "
              "MDE = (t(1-α/2, n-1) + t(power, n-1)) · sd(paired differences) / √n")


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, int]:
    """Mean and half-width of the two-sided Student-t interval; NaN values are dropped (width nan
    for n < 2)."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(x[0]), math.nan, 1
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return float(x.mean()), float(half), n


def paired_test(treatment: dict, baseline: dict) -> tuple[float, float, int]:
    """Mean of treatment - baseline over the seeds both have, the paired t-test p-value, n pairs.
    Arguments map seed -> value."""
    seeds = sorted(s for s in set(treatment) & set(baseline)
                   if not (math.isnan(treatment[s]) or math.isnan(baseline[s])))
    if not seeds:
        return math.nan, math.nan, 0
    t = np.array([treatment[s] for s in seeds])
    b = np.array([baseline[s] for s in seeds])
    diff = float((t - b).mean())
    if len(seeds) < 2 or np.allclose(t - b, (t - b)[0]):  # no spread: the t statistic is undefined
        return diff, math.nan, len(seeds)
    return diff, float(stats.ttest_rel(t, b).pvalue), len(seeds)


def mde(sd_diff: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest true paired difference a two-sided paired t-test at `alpha` detects with probability
    `power`, given the SD of the paired differences and n pairs (the usual t approximation to the
    noncentral t; nan for n < 2)."""
    if n < 2 or math.isnan(sd_diff):
        return math.nan
    return float((stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd_diff / math.sqrt(n))


def paired_summary(treatment: dict, baseline: dict, confidence: float = 0.95) -> dict:
    """Paired-by-seed comparison (arguments map seed -> value, NaN dropped): delta (mean difference),
    delta_ci95 (t half-width), p (paired t-test), sd_diff, mde and n (pairs)."""
    seeds = sorted(s for s in set(treatment) & set(baseline)
                   if not (math.isnan(treatment[s]) or math.isnan(baseline[s])))
    d = np.array([treatment[s] - baseline[s] for s in seeds], dtype=float)
    delta, p, n = paired_test(treatment, baseline)
    sd = float(d.std(ddof=1)) if n >= 2 else math.nan
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)) if n >= 2 else math.nan
    return {"delta": delta, "delta_ci95": half, "p": p, "sd_diff": sd, "mde": mde(sd, n), "n": n}


def holm(p_values) -> list[float]:
    """Holm-adjusted p-values, in the input order. NaN entries stay NaN and do not count in m.
    adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)), p sorted ascending."""
    p = [float(v) for v in p_values]
    order = sorted((v, i) for i, v in enumerate(p) if not math.isnan(v))
    m = len(order)
    adjusted, running = [math.nan] * len(p), 0.0
    for rank, (value, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * value))
        adjusted[i] = running
    return adjusted


def slope_ci(x, y, confidence: float = 0.95) -> dict:
    """Least-squares slope of y on x with its two-sided t interval (df = n - 2); NaN pairs dropped."""
    pts = [(a, b) for a, b in zip(x, y) if not (math.isnan(a) or math.isnan(b))]
    n = len(pts)
    if n < 3 or len({a for a, _ in pts}) < 2:
        return {"slope": math.nan, "ci95": math.nan, "intercept": math.nan, "p": math.nan, "n": n}
    fit = stats.linregress(*zip(*pts))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 2) * fit.stderr)
    return {"slope": float(fit.slope), "ci95": half, "intercept": float(fit.intercept), "p": float(fit.pvalue), "n": n}


def mean_curve(curves: list[pd.Series]) -> pd.DataFrame:
    """Seed curves (step -> value) -> per step: mean, 95 % t half-width, n seeds with a value."""
    if not curves:
        return pd.DataFrame(columns=["mean", "ci95", "n"])
    table = pd.concat(curves, axis=1)
    rows = [mean_ci(table.loc[step].to_numpy()) for step in table.index]
    return pd.DataFrame(rows, index=table.index, columns=["mean", "ci95", "n"])


def smooth(curve: pd.Series, window: int) -> pd.Series:
    """Trailing mean over `window` evaluation points (the first points average what exists)."""
    return curve.rolling(window, min_periods=1).mean()


def steps_to_target(curve: pd.Series, target: float, window: int) -> float:
    """First step at which the smoothed curve reaches target (nan if it never does)."""
    if math.isnan(target) or curve.empty:
        return math.nan
    reached = smooth(curve, window) >= target - 1e-12
    return float(reached.idxmax()) if reached.any() else math.nan
