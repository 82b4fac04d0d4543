"""The paper's figures from run folders. Each function returns a matplotlib Figure (shown inline in
notebooks); `save` writes it as PNG and PDF and closes it.

Conventions: every panel states its n (runs / seeds); lines are labelled by method and the factor
that varies, with readable numbers (`tables.readable`); lines carry markers so legends show them;
ablations are plotted against the noise *standard deviation* (`dither.noise_std`), so distributions
compare; nothing is drawn outside an axis (σ = 0 has no place on a log axis: it is a band instead).

    import analysis
    runs = analysis.load_runs(analysis.default_runs_root())
    analysis.save(analysis.accuracy_vs_step([r for r in runs if r.experiment == "main"]), "/tmp/acc")
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .reader import (GRAD_NORM, PAPER_EXPLODE, PAPER_VANISH, RAW_SCORE, SIGMA, Run, final_val_acc, gradient_events,
                     metric, run_summaries, val_curve)
from .stats import mean_ci, mean_curve, steps_to_target
from .tables import baseline_runs, is_baseline, missing_baseline_note, one_per_seed, readable, unique_runs


def save(fig: Figure, out: Path) -> Path:
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".png"), dpi=130)
    fig.savefig(out.with_suffix(".pdf"), metadata={"CreationDate": None})  # byte-stable reruns
    plt.close(fig)
    return out.with_suffix(".png")



MARKERS = "osD^v<>pPX*h"


def _finish(fig: Figure, ax, xlabel: str, ylabel: str, title: str, legend_loc: str = "best") -> Figure:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc=legend_loc)
    fig.tight_layout()
    return fig


def _window(series: pd.Series, step_range) -> pd.Series:
    return series if step_range is None else series.loc[step_range[0]:step_range[1]]


def _seeds(runs: list[Run]) -> str:
    seeds = sorted({r.seed for r in runs}, key=str)
    return f"n={len(runs)}, seed{'s' if len(seeds) > 1 else ''} {' '.join(map(str, seeds))}"


def arm_label(by: list[str] | None = None):
    """A line label: the method plus every grouping column that varies, readable ("redit-uniform, std
    0.087"; "redit-gaussian, linear σ 0.1→0"; "redit-gaussian, scope zero_var"). With by=None: the method."""
    extra = [c for c in (by or []) if c not in ("task", "method", "algorithm")]

    def label(run: Run) -> str:
        info = {**run.info, **run.setting}
        parts = []
        for c in extra:
            if c == "sigma" and "noise_std" in extra:
                continue  # the std is shown; σ is the distribution's own parameter
            if c in ("schedule", "sigma_end"):
                if c == "schedule" and info["schedule"] != "constant":
                    parts.append(f"{info['schedule']} σ {readable(info['sigma'])}→{readable(float(info['sigma_end'] or 0))}")
                continue
            value = info.get(c)
            if c == "noise_std":
                parts.append(f"std {readable(value)}" if value else "")
            elif c == "scope":
                parts.append(f"scope {value}" if value != "all" else "")
            elif c == "adaptive":
                parts.append(f"adaptive {value}" if value != "none" else "")
            else:
                parts.append(f"{c.split('.')[-1]}={readable(value)}")
        return ", ".join([run.method, *(p for p in parts if p)])
    return label


def full_arm_label(runs: list[Run]):
    """A label function that keeps every arm of `runs` apart: the method, then each part that takes
    more than one value among the runs of one method: the noise ("std 0.1", or a schedule "linear σ
    0.1→0"), the scope, adaptive σ, and every setting knob (steps, ...; a registry level by its name, "level hard").
    So a scope arm, a schedule arm or another level is never pooled with the plain arm of its method."""
    def parts(run: Run) -> dict[str, str]:
        info = run.info
        noise = "" if info["dist"] == "none" else (
            f"{info['schedule']} σ {readable(info['sigma'])}→{readable(float(info['sigma_end'] or 0))}"
            if info["schedule"] != "constant" else f"std {readable(info['noise_std'])}")
        found = {"noise": noise, "scope": f"scope {info['scope']}" if info["scope"] != "all" else "",
                 "adaptive": f"adaptive {info['adaptive']}" if info["adaptive"] != "none" else ""}
        found.update({k: f"{k.split('.')[-1]}={readable(v)}" for k, v in run.setting.items() if k != "algorithm"})
        if run.level_label:  # a registry level names the knobs it sets: "level hard", not "max_number=15, ..."
            found = {k: v for k, v in found.items() if not k.startswith("task_config.") and k != "temperature"
                     and (k != "model.path" or run.level_label == run.level)}  # size's "wide-hard" names the policy too
            found["level"] = f"level {run.level_label}"
        return found

    values: dict[tuple[str, str], set] = {}
    for run in runs:
        for kind, text in parts(run).items():
            values.setdefault((run.method, kind), set()).add(text)
    shown = {kind for (_, kind), texts in values.items() if len(texts) > 1}

    def label(run: Run) -> str:
        return ", ".join([run.method, *(text for kind, text in parts(run).items() if kind in shown and text)])
    return label


def figure1(runs: list[Run], vanish: float = PAPER_VANISH, explode: float = PAPER_EXPLODE, smooth: int = 10,
            step_range: tuple[int, int] | None = None, title: str | None = None, log_y: bool = True) -> Figure:
    """The paper's Figure 1, one panel per run (typically GRPO then ReDit): gradient norm before
    clipping (left axis; log by default so norms far below 0.01 stay visible; exactly-zero norms,
    which a log axis cannot hold, are drawn as red triangles on the bottom edge) with the vanishing /
    exploding steps marked and counted in the legend, and the raw (undithered) reward per step with
    its moving average (right axis). Each panel is ONE run (n = 1, its seed in the title)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 4.4), squeeze=False, sharey=True)
    positive = pd.concat([metric(r, GRAD_NORM) for r in runs] or [pd.Series(dtype=float)])
    positive = positive[positive > 0]
    floor = min(vanish / 2, positive.min() / 2) if len(positive) else vanish / 2  # the 0.01 line always in view
    twins = []
    for ax, run in zip(axes[0], runs):
        g = _window(metric(run, GRAD_NORM), step_range)
        zero = g[g == 0.0]
        shown = g.where(g > 0) if log_y else g
        ax.plot(shown.index, shown.values, color="tab:blue", lw=0.9, marker=".", ms=3, label="grad norm (before clipping)")
        vanishing, exploding = gradient_events(g, vanish, explode)
        vanishing_pos = vanishing[vanishing > 0] if log_y else vanishing
        ax.scatter(vanishing_pos.index, vanishing_pos.values, color="red", s=18, zorder=3,
                   label=f"vanishing (< {vanish:g}): {len(vanishing)}")
        if log_y:
            ax.scatter(zero.index, np.full(len(zero), floor), color="red", marker="v", s=30, zorder=3, clip_on=False,
                       label=f"exactly zero (drawn on the floor): {len(zero)}")
        ax.scatter(exploding.index, exploding.values, color="purple", marker="*", s=50, zorder=3,
                   label=f"exploding (> {explode:g}): {len(exploding)}")
        ax.axhline(vanish, color="red", ls=":", lw=0.8)
        ax.axhline(explode, color="purple", ls=":", lw=0.8)
        if log_y:
            ax.set_yscale("log")
            ax.set_ylim(bottom=floor)
        ax.set_xlabel("training step")
        ax.set_ylabel("gradient norm" + (" (log)" if log_y else ""))
        twin = ax.twinx()
        twins.append(twin)
        r = metric(run, RAW_SCORE)
        smoothed = _window(r.rolling(smooth, min_periods=1).mean(), step_range)
        r = _window(r, step_range)
        twin.plot(r.index, r.values, color="tab:orange", alpha=0.35, lw=0.8, marker=".", ms=2, label="reward (raw)")
        twin.plot(smoothed.index, smoothed.values, color="tab:orange", lw=1.8, label=f"smoothed reward ({smooth}-step mean)")
        twin.set_ylabel("raw reward (undithered)")
        acc = final_val_acc(run)
        ax.set_title(f"{run.method} — one run (n=1, seed {run.seed})" + ("" if math.isnan(acc) else f", final val acc {100 * acc:.1f}%"),
                     fontsize=10)
        handles, labels = (a + b for a, b in zip(ax.get_legend_handles_labels(), twin.get_legend_handles_labels()))
        ax.legend(handles, labels, loc="best", fontsize=7, framealpha=0.7)
    for twin in twins[1:]:  # one reward scale for every panel, so they compare at a glance
        twin.sharey(twins[0])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _grid(n_panels: int, width: float = 4.6, height: float = 3.4):
    import matplotlib.pyplot as plt

    cols = min(3, max(n_panels, 1))
    rows = math.ceil(max(n_panels, 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.4), squeeze=False, sharey=True)
    for ax in axes.ravel()[n_panels:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _band(ax, runs: list[Run], color, label: str, marker: str):
    curve = mean_curve([val_curve(r) for r in runs])
    if curve.empty:
        return curve
    ax.plot(curve.index, 100 * curve["mean"], color=color, lw=1.6, marker=marker, ms=4, label=f"{label} ({_seeds(runs)})")
    band = curve.dropna(subset=["ci95"])
    ax.fill_between(band.index, 100 * (band["mean"] - band["ci95"]), 100 * (band["mean"] + band["ci95"]),
                    color=color, alpha=0.18, lw=0)
    return curve


def accuracy_vs_step(runs: list[Run], label=None, reference_step: int | None = None, smooth_window: int = 3,
                     title: str | None = None, pool: list[Run] | None = None) -> Figure:
    """Validation accuracy over training steps as small multiples: one panel per treated arm (runs with
    dithering), each beside the baseline of its own setting (same algorithm, task, knobs; undithered;
    grey), mean over seeds with a 95 % t band, n and seeds in the legend. The dashed line is the arm's
    own mean accuracy at reference_step (default: its last evaluation), the paper's Figure 5 layout;
    the triangle marks where the baseline's smoothed curve first reaches it (never: no triangle).
    Baselines missing from `runs` are looked up in `pool`; an arm without one says so in the title.
    Without treated arms: one panel of baselines. Default label: full_arm_label (every arm apart)."""
    runs = unique_runs(runs)
    label = label or full_arm_label(runs)
    arms: dict[str, list[Run]] = {}
    missing = []
    for r in runs:
        arms.setdefault(label(r), []).append(r)
    treated = {k: v for k, v in sorted(arms.items()) if not is_baseline(v[0])}
    panels = treated or {"baselines": [r for r in runs]}
    fig, axes = _grid(len(panels))
    for i, (ax, (name, members)) in enumerate(zip(axes, panels.items())):
        if not treated:
            for j, (base_name, base) in enumerate(sorted(arms.items())):
                _band(ax, base, f"C{j % 10}", base_name, MARKERS[j % len(MARKERS)])
            ax.set_title("baselines", fontsize=9)
        else:
            base = baseline_runs(runs, members[0], pool or runs)
            if not base:
                missing.append(missing_baseline_note(members[0]))
            base_curve = _band(ax, base, "grey", label(base[0]) if base else "no baseline", "s") if base else pd.DataFrame()
            curve = _band(ax, members, f"C{i % 10}", name, MARKERS[i % len(MARKERS)])
            if not curve.empty:
                at = curve.loc[:reference_step] if reference_step is not None else curve
                level, step = float(at["mean"].iloc[-1]), int(at.index[-1])
                ax.axhline(100 * level, color=f"C{i % 10}", ls="--", lw=1.0, label=f"{name} at step {step}: {100 * level:.1f}%")
                reached = steps_to_target(base_curve["mean"], level, smooth_window) if len(base_curve) else math.nan
                if not math.isnan(reached):
                    ax.plot([reached], [100 * level], marker="v", color="grey", ms=8, ls="none",
                            label=f"baseline reaches it at step {reached:.0f}")
            ax.set_title(name if len(name) < 48 else name[:45] + "…", fontsize=9)
        ax.set_xlabel("training step")
        ax.legend(fontsize=6.5, loc="lower right")
    axes[0].set_ylabel("validation accuracy (%)")
    for ax in axes[::3]:
        ax.set_ylabel("validation accuracy (%)")
    title = title or "accuracy vs step (mean over seeds, 95% t band)"
    fig.suptitle(title + (f"\n{missing[0]}" if missing else ""), fontsize=11)  # never an empty comparison, silently
    fig.tight_layout()
    return fig


def variance_ablation(runs: list[Run], title: str | None = None, pool: list[Run] | None = None) -> Figure:
    """Final validation accuracy vs the noise standard deviation (log x; dither.noise_std, so a
    uniform half-width a sits at a/√3), mean ± 95 % t-CI over seeds, one line per distribution.
    Only constant-σ runs on every group (scope all, no adaptive σ) are points, and they must share one
    setting (Run.setting: steps, task, ...; else ValueError: pass one experiment's runs); undithered
    runs (std 0 has no place on a log axis) of that setting are the grey band: those in `runs`, else in
    `pool`, each run once and one per seed (tables.baseline_runs), so its n is the runs it averages."""
    import matplotlib.pyplot as plt

    runs = unique_runs(runs)
    plain = [r for r in runs if not is_baseline(r) and r.info["schedule"] == "constant" and r.info["scope"] == "all"
             and r.info["adaptive"] == "none" and r.info["noise_std"] > 0]
    settings = {r.setting_key for r in plain}
    if len(settings) > 1:
        differ = sorted({k for r in plain for k, v in r.setting.items() if len({str(o.setting.get(k)) for o in plain}) > 1})
        raise ValueError(f"these runs mix {len(settings)} settings (they differ in {', '.join(differ)}): a variance figure compares "
                         "one setting; pass one experiment's runs (its baselines come from pool=...).")
    if plain:
        base_runs = baseline_runs(runs, plain[0], pool)
    else:
        base_runs = one_per_seed([r for r in runs if is_baseline(r)])
    s = run_summaries(runs)
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    base = pd.Series([final_val_acc(r) for r in base_runs], dtype=float)
    if len(base):
        mean, half, n = mean_ci(base)
        ax.axhline(100 * mean, color="grey", lw=1.2, label=f"no dithering (n={n})")
        if not math.isnan(half):
            ax.axhspan(100 * (mean - half), 100 * (mean + half), color="grey", alpha=0.15, lw=0)
    elif plain:
        title = (title or "variance ablation (mean ± 95% t-CI over seeds)") + "\n" + missing_baseline_note(plain[0])
    points = s[(s["dist"] != "none") & (s["schedule"] == "constant") & (s["scope"] == "all")
               & (s["adaptive"] == "none") & (s["noise_std"] > 0)]
    for i, (dist, group) in enumerate(points.groupby("dist")):
        stats = [(std, *mean_ci(g["final_acc"])) for std, g in group.groupby("noise_std")]
        x, mean, half, n = (np.array(v, dtype=float) for v in zip(*stats))
        counts = sorted({int(k) for k in n})
        ax.errorbar(x, 100 * mean, yerr=100 * np.nan_to_num(half), marker=MARKERS[i], capsize=3,
                    label=f"{dist} (n={'/'.join(map(str, counts))} per point)")
    if len(points):
        ax.set_xscale("log")
        ax.set_xlim(points["noise_std"].min() / 1.6, points["noise_std"].max() * 1.6)
    return _finish(fig, ax, "noise standard deviation (dither.noise_std; log)", "final validation accuracy (%)",
                   title or "variance ablation (mean ± 95% t-CI over seeds)")


def grad_norm_distributions(runs: list[Run], vanish: float = PAPER_VANISH, explode: float = PAPER_EXPLODE, label=None,
                            log_counts: bool = False) -> Figure:
    """Histogram of pre-clip gradient norms (all steps, all seeds; log x) per arm (default label:
    full_arm_label, so a scope or schedule arm, or another level, is its own panel), with the vanishing /
    exploding regions shaded, exactly-zero norms as their own bar at the left edge (a log axis has no
    0), and per panel: runs and seeds, the share of steps below / above the paper's thresholds and the
    share exactly zero. log_counts: log-scaled counts, so rare steps stay visible."""
    import matplotlib.pyplot as plt

    runs = unique_runs(runs)
    label = label or full_arm_label(runs)
    methods = sorted({label(r) for r in runs})
    members = {m: [r for r in runs if label(r) == m] for m in methods}
    norms = {m: pd.concat([metric(r, GRAD_NORM) for r in members[m]] or [pd.Series(dtype=float)]) for m in methods}
    positive = pd.concat(list(norms.values()) or [pd.Series(dtype=float)])
    positive = positive[positive > 0]
    lo = min(vanish / 3, positive.min() if len(positive) else vanish)
    hi = max(explode * 3, positive.max() if len(positive) else explode)
    bins = np.logspace(np.log10(lo), np.log10(hi), 60)
    zero_at = lo / 2
    fig, axes = plt.subplots(len(methods), 1, figsize=(7, 1.7 + 1.55 * len(methods)), sharex=True, squeeze=False)
    for ax, m in zip(axes[:, 0], methods):
        g = norms[m]
        zeros = int((g == 0).sum())
        ax.hist(g[g > 0], bins=bins, color="tab:blue", label="norm > 0")
        if zeros:
            ax.bar([zero_at], [zeros], width=zero_at * 0.5, color="red", label=f"exactly 0: {zeros}")
            ax.legend(fontsize=7, loc="upper right")
        ax.axvspan(zero_at * 0.7, vanish, color="red", alpha=0.10)
        ax.axvspan(explode, hi, color="purple", alpha=0.10)
        n = max(len(g), 1)
        ax.set_title(f"{m} ({_seeds(members[m])}; {len(g)} steps): < {vanish:g} {100 * (g < vanish).sum() / n:.1f}%, "
                     f"= 0 {100 * zeros / n:.1f}%, > {explode:g} {100 * (g > explode).sum() / n:.1f}%", fontsize=8)
        ax.set_ylabel("steps")
        if log_counts:
            ax.set_yscale("log")
    axes[-1, 0].set_xscale("log")
    axes[-1, 0].set_xlim(zero_at * 0.7, hi)
    axes[-1, 0].set_xlabel(f"gradient norm before clipping (log; shaded: < {vanish:g} vanishing, > {explode:g} exploding)")
    fig.tight_layout()
    return fig


def sigma_vs_step(runs: list[Run], title: str | None = None, label=None) -> Figure:
    """The logged σ per step, one line per arm: the mean over its seeds, with the min–max range over
    seeds shaded (adaptive σ differs per seed; a schedule does not); n and seeds in the legend."""
    import matplotlib.pyplot as plt

    runs = unique_runs(runs)
    label = label or full_arm_label([r for r in runs if not metric(r, SIGMA).empty])
    arms: dict[str, list[Run]] = {}
    for run in runs:
        if not metric(run, SIGMA).empty:
            arms.setdefault(label(run), []).append(run)
    fig, ax = plt.subplots(figsize=(7, 4.2 + 0.22 * len(arms)))
    for i, (name, members) in enumerate(sorted(arms.items())):
        table = pd.concat([metric(r, SIGMA) for r in members], axis=1)
        mean = table.mean(axis=1)
        ax.plot(mean.index, mean.values, lw=1.4, color=f"C{i % 10}", marker=MARKERS[i % len(MARKERS)], ms=4,
                markevery=max(1, len(mean) // 12), label=f"{name} ({_seeds(members)})")
        if len(members) > 1:
            ax.fill_between(table.index, table.min(axis=1), table.max(axis=1), color=f"C{i % 10}", alpha=0.15, lw=0)
    ax.set_xlabel("training step")
    ax.set_ylabel("σ (the distribution's parameter)")
    ax.set_title(title or "σ per step (mean over seeds; shaded: min–max over seeds)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)  # below: never over the lines
    fig.tight_layout()
    return fig
