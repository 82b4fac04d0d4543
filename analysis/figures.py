"""The paper's figures from run folders. Each function returns a matplotlib Figure (shown inline in
notebooks); `save` writes it as PNG and PDF and closes it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .reader import (GRAD_NORM, PAPER_EXPLODE, PAPER_VANISH, RAW_SCORE, SIGMA, Run, final_val_acc, gradient_events,
                     metric, run_summaries, val_curve)
from .stats import mean_ci, mean_curve, steps_to_target


def save(fig: Figure, out: Path) -> Path:
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".png"), dpi=130)
    fig.savefig(out.with_suffix(".pdf"), metadata={"CreationDate": None})  # byte-stable reruns
    plt.close(fig)
    return out.with_suffix(".png")


def _finish(fig: Figure, ax, xlabel: str, ylabel: str, title: str, legend_loc: str = "best") -> Figure:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, loc=legend_loc)
    fig.tight_layout()
    return fig


def _window(series: pd.Series, step_range) -> pd.Series:
    return series if step_range is None else series.loc[step_range[0]:step_range[1]]


def figure1(runs: list[Run], vanish: float = PAPER_VANISH, explode: float = PAPER_EXPLODE, smooth: int = 10,
            step_range: tuple[int, int] | None = None, title: str | None = None) -> Figure:
    """The paper's Figure 1, one panel per run (typically GRPO then ReDit): gradient norm before
    clipping (left axis, vanishing / exploding points marked and counted in the legend) and the raw
    (undithered) reward per step with its moving average (right axis). step_range zooms in."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 4.2), squeeze=False, sharey=True)
    twins = []
    for ax, run in zip(axes[0], runs):
        g = _window(metric(run, GRAD_NORM), step_range)
        ax.plot(g.index, g.values, color="tab:blue", lw=0.9, label="grad norm (before clipping)")
        vanishing, exploding = gradient_events(g, vanish, explode)
        ax.scatter(vanishing.index, vanishing.values, color="red", s=18, zorder=3, label=f"vanishing (< {vanish:g}): {len(vanishing)}")
        ax.scatter(exploding.index, exploding.values, color="purple", marker="*", s=50, zorder=3,
                   label=f"exploding (> {explode:g}): {len(exploding)}")
        ax.set_xlabel("training step")
        ax.set_ylabel("gradient norm")
        twin = ax.twinx()
        twins.append(twin)
        r = metric(run, RAW_SCORE)
        smoothed = _window(r.rolling(smooth, min_periods=1).mean(), step_range)
        r = _window(r, step_range)
        twin.plot(r.index, r.values, color="tab:orange", alpha=0.35, lw=0.8, label="reward (raw)")
        twin.plot(smoothed.index, smoothed.values, color="tab:orange", lw=1.8, label=f"smoothed reward ({smooth}-step mean)")
        twin.set_ylabel("raw reward (undithered)")
        ax.set_title(f"{run.method} (seed {run.seed})  final val acc {100 * final_val_acc(run):.1f}%")
        handles, labels = (a + b for a, b in zip(ax.get_legend_handles_labels(), twin.get_legend_handles_labels()))
        ax.legend(handles, labels, loc="upper left", fontsize=7)
    for twin in twins[1:]:  # one reward scale for every panel, so they compare at a glance
        twin.sharey(twins[0])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_vs_step(runs: list[Run], reference_method: str | None = "redit-gaussian", reference_step: int | None = None,
                     smooth_window: int = 3, title: str | None = None, label=None) -> Figure:
    """Validation accuracy over training steps, one line per method: mean over seeds with a 95 % t band.
    The dashed line is reference_method's mean accuracy at reference_step (default: its last
    evaluation), the paper's Figure 5 layout; a marker shows where each other method's smoothed curve
    first reaches that line."""
    import matplotlib.pyplot as plt

    label = label or (lambda r: r.method)  # one line per label (default: per method), seeds pooled
    fig, ax = plt.subplots(figsize=(7, 4.2))
    methods = sorted({label(r) for r in runs})
    curves = {m: mean_curve([val_curve(r) for r in runs if label(r) == m]) for m in methods}
    palette = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20").colors
    colors = dict(zip(methods, palette * 2))
    for m, c in curves.items():
        if c.empty:
            continue
        n = int(c["n"].max())
        ax.plot(c.index, 100 * c["mean"], color=colors[m], lw=1.6, label=f"{m} (n={n})")
        band = c.dropna(subset=["ci95"])
        ax.fill_between(band.index, 100 * (band["mean"] - band["ci95"]), 100 * (band["mean"] + band["ci95"]),
                        color=colors[m], alpha=0.18, lw=0)
    ref = curves.get(reference_method)
    if ref is not None and not ref.empty:
        at = ref.loc[:reference_step] if reference_step is not None else ref
        level, step = float(at["mean"].iloc[-1]), int(at.index[-1])
        ax.axhline(100 * level, color=colors[reference_method], ls="--", lw=1.1,
                   label=f"{reference_method} at step {step}: {100 * level:.1f}%")
        for m, c in curves.items():
            reached = steps_to_target(c["mean"], level, smooth_window) if m != reference_method and not c.empty else math.nan
            if not math.isnan(reached):
                ax.plot([reached], [100 * level], marker="v", color=colors[m], ms=8, ls="none")
    return _finish(fig, ax, "training step", "validation accuracy (%)",
                   title or "accuracy vs step (mean over seeds, 95% t band)", "lower right")


def variance_ablation(runs: list[Run], title: str | None = None) -> Figure:
    """Final validation accuracy vs σ (log x), mean ± 95 % t-CI over seeds, one line per distribution;
    undithered runs (σ = 0 cannot sit on a log axis) are the grey band."""
    import matplotlib.pyplot as plt

    s = run_summaries(runs)
    fig, ax = plt.subplots(figsize=(6, 4))
    base = s[s["dist"] == "none"]["final_acc"]
    if len(base):
        mean, half, n = mean_ci(base)
        ax.axhline(100 * mean, color="grey", lw=1.2, label=f"no dithering (n={n})")
        if not math.isnan(half):
            ax.axhspan(100 * (mean - half), 100 * (mean + half), color="grey", alpha=0.15, lw=0)
    for dist, group in s[s["dist"] != "none"].groupby("dist"):
        points = [(sigma, *mean_ci(g["final_acc"])) for sigma, g in group.groupby("sigma")]
        x, mean, half, n = (np.array(v, dtype=float) for v in zip(*points))
        ax.errorbar(x, 100 * mean, yerr=100 * np.nan_to_num(half), marker="o", capsize=3, label=f"{dist} (n={int(n.max())})")
    ax.set_xscale("log")
    return _finish(fig, ax, "σ (Gaussian std; uniform half-width a; Laplace scale b)", "final validation accuracy (%)",
                   title or "variance ablation (mean ± 95% t-CI)")


def grad_norm_distributions(runs: list[Run], vanish: float = PAPER_VANISH, explode: float = PAPER_EXPLODE, label=None) -> Figure:
    """Histogram of pre-clip gradient norms (all steps, all seeds; log x) per method, with the
    vanishing / exploding regions shaded and their frequencies in each panel's title."""
    import matplotlib.pyplot as plt

    label = label or (lambda r: r.method)
    methods = sorted({label(r) for r in runs})
    norms = {m: pd.concat([metric(r, GRAD_NORM) for r in runs if label(r) == m] or [pd.Series(dtype=float)]) for m in methods}
    positive = pd.concat(list(norms.values()) or [pd.Series(dtype=float)])
    positive = positive[positive > 0]
    lo = min(vanish / 3, positive.min() if len(positive) else vanish)
    hi = max(explode * 3, positive.max() if len(positive) else explode)
    bins = np.logspace(np.log10(lo), np.log10(hi), 60)
    fig, axes = plt.subplots(len(methods), 1, figsize=(6.5, 1.6 + 1.5 * len(methods)), sharex=True, squeeze=False)
    for ax, m in zip(axes[:, 0], methods):
        g = norms[m]
        ax.hist(g.clip(lower=lo), bins=bins, color="tab:blue")
        ax.axvspan(lo, vanish, color="red", alpha=0.12)
        ax.axvspan(explode, hi, color="purple", alpha=0.12)
        n = max(len(g), 1)
        ax.set_title(f"{m}: {len(g)} steps, vanishing {100 * (g < vanish).sum() / n:.1f}%, "
                     f"exploding {100 * (g > explode).sum() / n:.1f}%", fontsize=9)
        ax.set_ylabel("steps")
    axes[-1, 0].set_xscale("log")
    axes[-1, 0].set_xlabel(f"gradient norm before clipping (shaded: < {vanish:g} vanishing, > {explode:g} exploding)")
    fig.tight_layout()
    return fig


def sigma_vs_step(runs: list[Run], title: str | None = None) -> Figure:
    """The logged σ per step, one line per (method, schedule): schedules and adaptive σ at a glance."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    seen = set()
    for run in runs:
        adaptive = run.info["adaptive"]
        label = f"{run.method} {run.info['schedule'] if adaptive == 'none' else 'adaptive ' + adaptive}"
        s = metric(run, SIGMA)
        if s.empty or label in seen:
            continue
        seen.add(label)
        ax.plot(s.index, s.values, lw=1.3, label=label)
    return _finish(fig, ax, "training step", "σ", title or "σ per step (first seed of each)")
