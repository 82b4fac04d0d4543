"""The statistics the paper's tables lacked: t confidence intervals over seeds, a paired-by-seed test
against the baseline, and steps-to-target (how the "~10 % of the steps" claim is tested)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

CI_METHOD = "two-sided 95 % Student-t interval over seeds"
TEST_METHOD = "paired t-test over seeds the two methods share (two-sided)"


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
