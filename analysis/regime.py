"""The regime experiment (issue 14): ReDit vs GRPO as a function of the *measured* fraction of
saturated (zero-variance) groups. Outcomes, fixed before the runs (results/tiny/regime.md):

- primary: on-policy raw accuracy over the second half of training (`reader.primary_outcome`);
- secondary: held-out accuracy, the mean of the last 3 evaluations (`reader.secondary_outcome`);
- mechanism: the fraction of training steps whose pre-clip gradient norm is exactly zero, the
  scale-aware exploding count (> 10 x the run's median) beside the paper's absolute 0.01 / 5.

A run's *level* is its registry variant's level (`easy`, `default`, `hard`, `hardest`: redit/registry.py
REGIME_LEVELS); the training knobs (`Run.setting`: task_config.*, temperature, ...) that vary among the
regime's runs are the table's extra columns, and name the level of a run without one. Its *arm* is its dithering
(method, noise std, scope, adaptive σ); each level's GRPO arm is the baseline of every other arm
there, paired by seed.

    import analysis
    from analysis import regime
    runs = [r for r in analysis.load_runs(analysis.default_runs_root()) if r.experiment == "regime"]
    table = regime.regime_table(runs)
    print(regime.to_markdown(table), regime.slope_lines(runs, table))
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .reader import (EXPLODE_MEDIAN_MULTIPLE, PAPER_EXPLODE, PAPER_VANISH, ZERO_STD_ALL_CORRECT,
                     ZERO_STD_ALL_WRONG, ZERO_STD_RAW, Run, metric, primary_outcome, run_summaries, secondary_outcome)
from .stats import CI_METHOD, HOLM_METHOD, MDE_METHOD, TEST_METHOD, holm, mean_ci, paired_summary, slope_ci
from .tables import _latex_escape, baseline_runs, is_baseline, paired_with_baseline, readable

NAME = "regime"
OUTCOMES = {"primary": ("on-policy raw accuracy, second half of training", primary_outcome),
            "secondary": ("held-out accuracy, mean of the last 3 evaluations", secondary_outcome)}


def level_knobs(runs: list[Run]) -> list[str]:
    """The setting knobs whose value differs between these runs (what defines a level)."""
    keys = sorted({k for r in runs for k in r.setting})
    return [k for k in keys if len({str(r.setting.get(k)) for r in runs}) > 1]


def level_of(run: Run, knobs: list[str]) -> str:
    """A level's name: the registry's (`hard`), else the knobs, e.g. "max_number=15, temperature=1"."""
    return run.level or ", ".join(f"{k.split('.')[-1]}={readable(run.setting.get(k))}" for k in knobs) or "one level"


def arm_of(run: Run) -> str:
    info = run.info
    parts = [run.method]
    if info["dist"] != "none":
        parts.append(f"std {readable(info['noise_std'])}")
    if info["scope"] != "all":
        parts.append(f"scope {info['scope']}")
    if info["adaptive"] != "none":
        parts.append(f"adaptive {info['adaptive']}")
    return ", ".join(parts)


def _run_mean(runs: list[Run], key: str) -> float:
    """Mean over runs of each run's mean over steps (nan where no run logged key)."""
    values = [metric(r, key).mean() for r in runs if not metric(r, key).empty]
    return float(np.mean(values)) if values else math.nan


def regime_table(runs: list[Run], pool: list[Run] | None = None) -> pd.DataFrame:
    """One row per level x arm, levels ordered by their GRPO arm's measured zero-variance fraction.
    Columns: level, the level knobs, arm, zero_var_frac / _all_correct / _all_wrong (the level's GRPO
    arm: mean over steps, then seeds), arm_zero_var_frac (this arm's own raw fraction), n, seeds;
    per outcome (primary, secondary): mean, ci95, delta (vs the level's GRPO, paired by seed),
    delta_ci95, p, p_holm (Holm within this table, per outcome), mde, n_pairs; zero_grad_frac
    (steps with pre-clip norm exactly 0), exploding_scaled_steps (> 10 x the run's median), and the
    paper's absolute vanishing (< 0.01) / exploding (> 5) counts, as means per run."""
    knobs = level_knobs(runs)
    summary = run_summaries(runs).set_index("run")
    cells: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        cells.setdefault((level_of(r, knobs), arm_of(r)), []).append(r)
    rows = []
    for (level, arm), members in cells.items():
        base = baseline_runs(runs, members[0], pool or runs)
        row = {"level": level, **{k.split(".")[-1]: members[0].setting.get(k) for k in knobs}, "arm": arm,
               "baseline": arm_of(base[0]) if base else "",
               "zero_var_frac": _run_mean(base, ZERO_STD_RAW),
               "zero_var_frac_all_correct": _run_mean(base, ZERO_STD_ALL_CORRECT),
               "zero_var_frac_all_wrong": _run_mean(base, ZERO_STD_ALL_WRONG),
               "arm_zero_var_frac": _run_mean(members, ZERO_STD_RAW),
               "n": len(members), "seeds": " ".join(str(r.seed) for r in sorted(members, key=lambda r: str(r.seed)))}
        for name, (_, outcome) in OUTCOMES.items():
            mean, half, _ = mean_ci([outcome(r) for r in members])
            paired = paired_with_baseline(members, runs, pool or runs, outcome) if not is_baseline(members[0]) else {}
            row.update({f"{name}_mean": mean, f"{name}_ci95": half, f"{name}_delta": paired.get("delta", math.nan),
                        f"{name}_delta_ci95": paired.get("delta_ci95", math.nan), f"{name}_p": paired.get("p", math.nan),
                        f"{name}_mde": paired.get("mde", math.nan), f"{name}_n_pairs": paired.get("n", 0)})
        own = summary.loc[[r.name for r in members]] if len(summary) else summary
        row.update(zero_grad_frac=own["zero_grad_frac"].mean(), exploding_scaled_steps=own["exploding_scaled_steps"].mean(),
                   vanishing_steps=own["vanishing_steps"].mean(), exploding_steps=own["exploding_steps"].mean(),
                   train_steps=own["train_steps"].max())
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for name in OUTCOMES:
        table.insert(table.columns.get_loc(f"{name}_p") + 1, f"{name}_p_holm", holm(table[f"{name}_p"]))
    table["_grpo_first"] = [0 if a == b else 1 for a, b in zip(table["arm"], table["baseline"])]
    table = table.sort_values(["zero_var_frac", "level", "_grpo_first", "arm"]).drop(columns="_grpo_first")
    return table.reset_index(drop=True)


def slopes(runs: list[Run], table: pd.DataFrame) -> pd.DataFrame:
    """Regression slope of Δ(primary) on the level's measured zero-variance fraction, per arm present
    at >= 3 levels: with levels as points (x: the GRPO arm's fraction, y: the paired mean Δ) and
    with per-seed pairs (x: that seed's GRPO run's fraction, y: that seed's Δ)."""
    knobs, rows = level_knobs(runs), []
    treated = table[table["primary_n_pairs"] > 0]
    for arm, group in treated.groupby("arm"):
        if group["level"].nunique() < 3:
            continue
        by_levels = slope_ci(group["zero_var_frac"].tolist(), group["primary_delta"].tolist())
        xs, ys, treated_by_pair, base_by_pair = [], [], {}, {}
        for r in (r for r in runs if arm_of(r) == arm):
            partner = [b for b in baseline_runs(runs, r, runs) if b.seed == r.seed]
            if partner:
                xs.append(metric(partner[0], ZERO_STD_RAW).mean())
                ys.append(primary_outcome(r) - primary_outcome(partner[0]))
                key = (level_of(r, knobs), str(r.seed))  # the pooled comparison pairs (level, seed)
                treated_by_pair[key], base_by_pair[key] = primary_outcome(r), primary_outcome(partner[0])
        per_seed = slope_ci(xs, ys)
        pooled = paired_summary(treated_by_pair, base_by_pair)
        rows.append({"arm": arm, "levels": group["level"].nunique(), "knobs": ", ".join(k.split(".")[-1] for k in knobs),
                     **{f"levels_{k}": v for k, v in by_levels.items()}, **{f"pairs_{k}": v for k, v in per_seed.items()},
                     **{f"pooled_{k}": v for k, v in pooled.items()}})
    return pd.DataFrame(rows)


def slope_lines(runs: list[Run], table: pd.DataFrame) -> str:
    lines = []
    for s in slopes(runs, table).itertuples():
        lines.append(f"Slope of Δ(primary) on the measured zero-variance fraction, {s.arm}: "
                     f"{100 * s.levels_slope:+.1f} pts per unit fraction (95 % CI ± {100 * s.levels_ci95:.1f}; "
                     f"{s.levels_n} levels as points); {100 * s.pairs_slope:+.1f} ± {100 * s.pairs_ci95:.1f} "
                     f"({s.pairs_n} per-seed pairs). A positive slope: ReDit's gain grows with saturation.")
        lines.append(f"Pooled over levels, {s.arm} − GRPO (primary): {100 * s.pooled_delta:+.2f} pts (95 % CI ± "
                     f"{100 * s.pooled_delta_ci95:.2f}, paired t-test p = {s.pooled_p:.3g}, MDE {100 * s.pooled_mde:.2f} pts, "
                     f"{s.pooled_n} (level, seed) pairs).")
    return "\n".join(lines) or "No arm is present at 3 or more levels: no slope."


# ---- rendering -----------------------------------------------------------------------------------

def _pct(x, digits=1):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}"


def _mean_ci(mean, half):
    return "—" if math.isnan(mean) else _pct(mean) + ("" if math.isnan(half) else f" ± {_pct(half)}")


def _delta(r, name):
    if r[f"{name}_n_pairs"] == 0:
        return "baseline" if r["arm"] == r["baseline"] else "—"
    d, half = r[f"{name}_delta"], r[f"{name}_delta_ci95"]
    return f"{100 * d:+.1f}" + ("" if math.isnan(half) else f" [{100 * (d - half):+.1f}, {100 * (d + half):+.1f}]")


def _p(x):
    return "" if math.isnan(x) else f"{x:.3f}"


HEADER = ["level", "arm", "zero-var frac (GRPO): all / all-correct / all-wrong", "n", "primary % (mean ± CI)",
          "Δ primary pts [95% CI]", "p", "p (Holm)", "MDE pts", "secondary % (mean ± CI)", "Δ secondary pts [95% CI]",
          "p secondary (Holm)", "zero-grad steps %", "exploding (>10× median / >5) per run"]


def display_rows(table: pd.DataFrame) -> list[list[str]]:
    cells = []
    for r in table.to_dict("records"):
        cells.append([r["level"], r["arm"],
                      f"{r['zero_var_frac']:.2f} / {r['zero_var_frac_all_correct']:.2f} / {r['zero_var_frac_all_wrong']:.2f}"
                      .replace("nan", "—"), str(r["n"]),
                      _mean_ci(r["primary_mean"], r["primary_ci95"]), _delta(r, "primary"), _p(r["primary_p"]),
                      _p(r["primary_p_holm"]), "" if math.isnan(r["primary_mde"]) else f"{100 * r['primary_mde']:.1f}",
                      _mean_ci(r["secondary_mean"], r["secondary_ci95"]), _delta(r, "secondary"), _p(r["secondary_p_holm"]),
                      _pct(r["zero_grad_frac"]),
                      f"{readable(r['exploding_scaled_steps'])} / {readable(r['exploding_steps'])}"])
    return cells


def notes(multiple: float = EXPLODE_MEDIAN_MULTIPLE) -> list[str]:
    return ["Levels: redit/registry.py REGIME_LEVELS (max_number, min_ops, max_ops, temperature; in the CSV), ordered by the "
            "GRPO arm's measured zero-variance (saturated-group) fraction, raw rewards, mean over steps then seeds; all-correct + all-wrong = all.",
            f"Primary: {OUTCOMES['primary'][0]}. Secondary: {OUTCOMES['secondary'][0]}. Mean ± {CI_METHOD}.",
            f"Δ: paired by seed against the level's GRPO arm, with its 95 % t-CI; p: {TEST_METHOD}; "
            f"p (Holm): {HOLM_METHOD}, per outcome. MDE: {MDE_METHOD}.",
            f"Zero-grad steps: share of steps whose pre-clip gradient norm is exactly 0. Exploding: steps above "
            f"{multiple:g} × the run's median norm / above the paper's absolute {PAPER_EXPLODE:g} "
            f"(the paper's vanishing < {PAPER_VANISH:g} is in the CSV)."]


def to_markdown(table: pd.DataFrame, title: str = "", extra: str = "") -> str:
    lines = [f"### {title}", ""] if title else []
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c) + " |" for c in display_rows(table)]
    lines += [""] + ([extra, ""] if extra else []) + [f"{n}  " for n in notes()]
    return "\n".join(lines).rstrip() + "\n"


def write(table: pd.DataFrame, out: Path, title: str, extra: str) -> str:
    """out.csv (every column, fractions), out.md, out.tex; returns the Markdown."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".csv"), index=False)
    markdown = to_markdown(table, title, extra)
    out.with_suffix(".md").write_text(markdown)
    tex = [r"\begin{table}[t]", r"\centering", r"\scriptsize", r"\begin{tabular}{ll" + "r" * (len(HEADER) - 2) + "}",
           r"\toprule", " & ".join(_latex_escape(h) for h in HEADER) + r" \\", r"\midrule"]
    tex += [" & ".join(_latex_escape(c) for c in row) + r" \\" for row in display_rows(table)]
    tex += [r"\bottomrule", r"\end{tabular}", r"\caption{" + _latex_escape(" ".join([title + ".", extra, *notes()])) + "}",
            r"\end{table}"]
    out.with_suffix(".tex").write_text("\n".join(tex) + "\n")
    return markdown


# ---- figures -------------------------------------------------------------------------------------

def headline_figure(table: pd.DataFrame, title: str | None = None) -> Figure:
    """Left: ReDit − GRPO Δ of the primary outcome (95 % CI) against the level's measured zero-variance
    fraction, one series per arm. Right: each arm's zero-gradient-step fraction (GRPO included) at
    the same x. n pairs per point in the legend."""
    import matplotlib.pyplot as plt

    from .figures import MARKERS

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    arms = list(dict.fromkeys(table["arm"]))
    for i, arm in enumerate(arms):
        rows = table[table["arm"] == arm].sort_values("zero_var_frac")
        color, marker = f"C{i % 10}", MARKERS[i % len(MARKERS)]
        treated = rows[rows["primary_n_pairs"] > 0]
        if len(treated):
            n = sorted({int(k) for k in treated["primary_n_pairs"]})
            dodge = 0.01 * (i - (len(arms) - 1) / 2)  # arms at one level side by side, not on top of each other
            left.errorbar(treated["zero_var_frac"] + dodge, 100 * treated["primary_delta"], yerr=100 * treated["primary_delta_ci95"].fillna(0),
                          color=color, marker=marker, capsize=3, lw=1.2, label=f"{arm} (n={'/'.join(map(str, n))} pairs)")
        right.plot(rows["zero_var_frac"], 100 * rows["zero_grad_frac"], color=color, marker=marker, lw=1.2,
                   label=f"{arm} (n={'/'.join(map(str, sorted(set(rows['n']))))} runs)")
    left.axhline(0, color="grey", lw=1)
    left.set_xlabel("measured zero-variance group fraction (GRPO arm, raw rewards)")
    left.set_ylabel("Δ on-policy accuracy, 2nd half (pts)")
    left.set_title("ReDit − GRPO, paired by seed (95% t-CI)", fontsize=10)
    left.legend(fontsize=7, loc="best")
    right.set_xlabel("measured zero-variance group fraction (GRPO arm, raw rewards)")
    right.set_ylabel("steps with gradient norm exactly 0 (%)")
    right.set_title("mechanism: zero-gradient steps per arm", fontsize=10)
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.set_xlim(-0.02, 1.02)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def most_saturated_pair(runs: list[Run], table: pd.DataFrame) -> tuple[Run, Run]:
    """(GRPO, ReDit on all groups) runs of the lowest seed both have, at the most saturated level."""
    knobs = level_knobs(runs)
    level = table.sort_values("zero_var_frac")["level"].iloc[-1]
    at = [r for r in runs if level_of(r, knobs) == level and r.info["scope"] == "all" and r.info["adaptive"] == "none"]
    grpo = {r.seed: r for r in at if is_baseline(r)}
    redit = {r.seed: r for r in at if not is_baseline(r) and r.info["dist"] == "gaussian"}
    seeds = sorted(set(grpo) & set(redit), key=str)
    if not seeds:
        raise ValueError(f"no seed has both a GRPO and a ReDit-Gaussian run at level {level!r}.")
    return grpo[seeds[0]], redit[seeds[0]]


def regime_figure1(runs: list[Run], table: pd.DataFrame) -> Figure:
    from .figures import figure1

    pair = most_saturated_pair(runs, table)
    level = level_of(pair[0], level_knobs(runs))
    frac = table.loc[table["level"] == level, "zero_var_frac"].iloc[0]
    return figure1(list(pair), log_y=True,
                   title=f"Figure 1 at the most saturated level ({level}; zero-variance fraction {frac:.2f})")

