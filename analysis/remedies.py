"""The remedies experiment (issue 21): which remedy for saturated groups beats GRPO where ReDit does
not, and does ReDit's harm come from the gradient-clip budget? Design, outcomes and criteria were
fixed before the runs in results/tiny/remedies.md; this module applies them as written.

A run's level and arm come from its variant name in the registry (`<level>-<arm>-s<seed>`, e.g.
`hard-redit-noclip-s3`); every arm is paired by seed with its level's `grpo` arm.

    from analysis import load_runs, remedies
    runs = [r for r in load_runs("runs/tiny") if r.experiment == "remedies"]
    table = remedies.remedies_table(runs); print(remedies.to_markdown(table, remedies.clip_budget(runs)))
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from redit.registry import EXPERIMENTS, REMEDIES_LEVELS

from .reader import (GRAD_NORM, RAW_SCORE, ZERO_STD_ALL_CORRECT, ZERO_STD_ALL_WRONG, ZERO_STD_RAW, Run, metric,
                     primary_outcome, secondary_outcome, val_curve)
from .stats import CI_METHOD, HOLM_METHOD, MDE_METHOD, TEST_METHOD, holm, mean_ci, paired_summary
from .regime import _p, _pct
from .tables import _latex_escape

NAME = "remedies"
BASELINE = "grpo"
COMPLETIONS, TOKENS = "compute/completions", "compute/completion_tokens"
TRAINED_INFORMATIVE = "remedy/trained_informative_frac"
# arms that carry ReDit's noise: they cannot be the positive control (results/tiny/remedies.md)
NOISE_ARMS = ("redit", "redit-zero_var", "redit-noclip", "dr_grpo+redit")


def arms() -> list[str]:
    """The arms in registry order (the level prefix stripped)."""
    names = [v.split("-", 1)[1] for v in EXPERIMENTS[NAME].variants_for("trl")]
    return list(dict.fromkeys(names))


def level_and_arm(run: Run) -> tuple[str, str]:
    """(level, arm) of the run's registry variant; ValueError for a run that is not a remedies variant."""
    if run.experiment != NAME or run.level not in REMEDIES_LEVELS or run.arm not in arms():
        raise ValueError(f"run {run.path} is labelled {run.experiment}/{run.variant}, not a remedies variant "
                         f"(levels {', '.join(REMEDIES_LEVELS)}); label it: python scripts/label_runs.py --runs <its runs folder>.")
    return run.level, run.arm


def completions_per_step(run: Run) -> pd.Series:
    """Completions generated at each training step (64 a step where a run predates the key)."""
    done = metric(run, COMPLETIONS)
    if done.empty:
        steps = metric(run, RAW_SCORE).index
        return pd.Series(float((run.config.get("prompts_per_step") or 8) * (run.config.get("num_generations") or 8)), index=steps)
    return done


def budget(run: Run) -> float:
    """C*: the completions GRPO generates over the run's configured steps (prompts x G x steps)."""
    return float((run.config.get("prompts_per_step") or 8) * (run.config.get("num_generations") or 8) * run.config["steps"])


def equal_completion_outcomes(run: Run, c_star: float) -> tuple[float, float]:
    """(on-policy accuracy over the steps whose cumulative completions BEFORE the step lie in
    [C*/2, C*), held-out accuracy linearly interpolated at C* in cumulative completions). For a run
    generating exactly C*/steps per step these equal the primary and the last evaluation."""
    per_step = completions_per_step(run)
    before = per_step.cumsum() - per_step
    score = metric(run, RAW_SCORE)
    window = before[(before >= c_star / 2) & (before < c_star)].index
    on_policy = float(score.reindex(window).mean()) if len(window) else math.nan
    cumulative = pd.concat([pd.Series({0: 0.0}), per_step.cumsum()])
    curve = val_curve(run)
    x = cumulative.reindex(curve.index).to_numpy(dtype=float)
    ok = ~np.isnan(x)
    held_out = float(np.interp(c_star, x[ok], curve.to_numpy()[ok])) if ok.sum() >= 2 and c_star <= x[ok].max() else math.nan
    return on_policy, held_out


def run_measures(run: Run) -> dict:
    """Every per-run number of the table (fractions, not percent)."""
    grad = metric(run, GRAD_NORM)
    clip = run.config.get("max_grad_norm") or math.inf
    per_step = completions_per_step(run)
    eq_primary, eq_secondary = equal_completion_outcomes(run, budget(run))
    level, arm = level_and_arm(run)
    return {"level": level, "arm": arm, "seed": run.seed, "run": run.name,
            "primary": primary_outcome(run), "secondary": secondary_outcome(run),
            "primary_eq_completions": eq_primary, "secondary_eq_completions": eq_secondary,
            "zero_var_frac": metric(run, ZERO_STD_RAW).mean(), "all_correct_frac": metric(run, ZERO_STD_ALL_CORRECT).mean(),
            "all_wrong_frac": metric(run, ZERO_STD_ALL_WRONG).mean(),
            "trained_informative_frac": metric(run, TRAINED_INFORMATIVE).mean(),
            "zero_grad_frac": float((grad == 0).mean()) if len(grad) else math.nan,
            "clipped_frac": float((grad > clip).mean()) if len(grad) else math.nan, "clipped_steps": int((grad > clip).sum()),
            "max_grad_norm": clip, "grad_norm_mean": grad.mean(), "grad_norm_max": grad.max(),
            "completions_per_step": per_step.mean(), "completions_total": per_step.sum(),
            "completion_tokens_total": metric(run, TOKENS).sum()}


OUTCOMES = {"primary": "on-policy raw accuracy, steps 31-60", "secondary": "held-out accuracy, mean of steps 20/40/60",
            "primary_eq_completions": "on-policy accuracy at equal generated completions",
            "secondary_eq_completions": "held-out accuracy at equal generated completions (C* = GRPO's total)"}
MECHANISM = ("zero_var_frac", "all_correct_frac", "all_wrong_frac", "trained_informative_frac", "zero_grad_frac",
             "clipped_frac", "grad_norm_mean", "grad_norm_max", "completions_per_step", "completions_total",
             "completion_tokens_total")


def measures(runs: list[Run]) -> pd.DataFrame:
    return pd.DataFrame([run_measures(r) for r in runs])


def remedies_table(runs: list[Run]) -> pd.DataFrame:
    """One row per level x arm (levels in REMEDIES_LEVELS order, arms in registry order): n, seeds,
    per outcome mean / ci95 / delta vs the level's GRPO (paired by seed) / delta_ci95 / p / p_holm /
    mde / n_pairs, and the mechanism columns (means over runs). Holm families: the primary and the
    secondary outcome, each over every arm-vs-GRPO contrast of the table; the equal-completion outcomes
    get p-values without a family (they equal the primary/secondary for every arm but refill)."""
    frame = measures(runs)
    rows = []
    for level in REMEDIES_LEVELS:
        at = frame[frame["level"] == level]
        base = at[at["arm"] == BASELINE].set_index("seed")
        for arm in arms():
            cell = at[at["arm"] == arm]
            if cell.empty:
                continue
            row = {"level": level, "arm": arm, "n": len(cell), "seeds": " ".join(map(str, sorted(cell["seed"])))}
            for outcome in OUTCOMES:
                mean, half, _ = mean_ci(cell[outcome].tolist())
                row[f"{outcome}_mean"], row[f"{outcome}_ci95"] = mean, half
                if arm != BASELINE and len(base):
                    s = paired_summary(cell.set_index("seed")[outcome].to_dict(), base[outcome].to_dict())
                else:
                    s = {"delta": math.nan, "delta_ci95": math.nan, "p": math.nan, "mde": math.nan, "n": 0}
                row.update({f"{outcome}_delta": s["delta"], f"{outcome}_delta_ci95": s["delta_ci95"],
                            f"{outcome}_p": s["p"], f"{outcome}_mde": s["mde"], f"{outcome}_n_pairs": s["n"]})
            row.update({m: cell[m].mean() for m in MECHANISM})
            rows.append(row)
    table = pd.DataFrame(rows)
    for outcome in ("primary", "secondary"):
        if len(table):
            table.insert(table.columns.get_loc(f"{outcome}_p") + 1, f"{outcome}_p_holm", holm(table[f"{outcome}_p"]))
    return table


def _paired_delta(frame: pd.DataFrame, level: str, treated: str, base: str, outcome: str = "primary") -> dict:
    at = frame[frame["level"] == level]
    t = at[at["arm"] == treated].set_index("seed")[outcome].to_dict()
    b = at[at["arm"] == base].set_index("seed")[outcome].to_dict()
    return {s: t[s] - b[s] for s in set(t) & set(b)}


def clip_budget(runs: list[Run]) -> pd.DataFrame:
    """Per level: Δ_clip = redit − grpo, Δ_noclip = redit-noclip − grpo-noclip, D = Δ_noclip − Δ_clip
    (paired by seed, primary outcome) with CIs, p and Holm over the levels (the pre-registered third
    family); whether any noclip step was clipped; and Δ_dr = dr_grpo+redit − dr_grpo."""
    frame = measures(runs)
    rows = []
    for level in REMEDIES_LEVELS:
        clip = _paired_delta(frame, level, "redit", "grpo")
        noclip = _paired_delta(frame, level, "redit-noclip", "grpo-noclip")
        dr = _paired_delta(frame, level, "dr_grpo+redit", "dr_grpo")
        if not clip or not noclip:
            continue
        zeros = {s: 0.0 for s in clip}
        row = {"level": level}
        for name, deltas, base in (("clip", clip, zeros), ("noclip", noclip, {s: 0.0 for s in noclip}),
                                   ("dr", dr, {s: 0.0 for s in dr}),
                                   ("D", {s: noclip[s] - clip[s] for s in set(clip) & set(noclip)}, zeros)):
            s = paired_summary(deltas, base)
            row.update({f"{name}_delta": s["delta"], f"{name}_ci95": s["delta_ci95"], f"{name}_p": s["p"],
                        f"{name}_mde": s["mde"], f"{name}_n": s["n"]})
        at = frame[(frame["level"] == level) & frame["arm"].isin(["grpo-noclip", "redit-noclip"])]
        row["noclip_clipped_steps"] = float(at["clipped_steps"].sum())
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table.insert(table.columns.get_loc("D_p") + 1, "D_p_holm", holm(table["D_p"]))
    return table


def verdicts(table: pd.DataFrame, budget_table: pd.DataFrame) -> list[str]:
    """The pre-registered criteria of results/tiny/remedies.md applied to the tables, as sentences."""
    lines = []
    hard = budget_table[budget_table["level"] == "hard"]
    if len(hard):
        h = hard.iloc[0]
        clip_lo, clip_hi = h.clip_delta - h.clip_ci95, h.clip_delta + h.clip_ci95
        nc_lo, nc_hi = h.noclip_delta - h.noclip_ci95, h.noclip_delta + h.noclip_ci95
        d_lo, d_hi = h.D_delta - h.D_ci95, h.D_delta + h.D_ci95
        if clip_lo <= 0 <= clip_hi:
            verdict = "no harm to explain (Δ_clip's CI includes 0 at hard)"
        elif h.D_delta > 0 and h.D_p_holm < 0.05 and nc_hi >= 0:
            verdict = "SUPPORTED"
        elif d_lo <= 0 <= d_hi and nc_hi < 0:
            verdict = "REFUTED (the harm persists without clipping)"
        else:
            verdict = f"INCONCLUSIVE (MDE of D {100 * h.D_mde:.2f} pts)"
        lines.append(f"Clip-budget mechanism at hard: {verdict}. Δ_clip {100 * h.clip_delta:+.2f} [{100 * clip_lo:+.2f}, "
                     f"{100 * clip_hi:+.2f}], Δ_noclip {100 * h.noclip_delta:+.2f} [{100 * nc_lo:+.2f}, {100 * nc_hi:+.2f}], "
                     f"D {100 * h.D_delta:+.2f} [{100 * d_lo:+.2f}, {100 * d_hi:+.2f}] pts, Holm p {h.D_p_holm:.3g}; "
                     f"steps clipped in the noclip arms: {h.noclip_clipped_steps:.0f}.")
        dr_lo, dr_hi = h.dr_delta - h.dr_ci95, h.dr_delta + h.dr_ci95
        normalisation = "supported" if (dr_lo <= 0 <= dr_hi) and not (clip_lo <= 0 <= clip_hi) else "not supported"
        lines.append(f"'Std normalisation makes ReDit's noise harmful': {normalisation} (Δ_dr = dr_grpo+redit − dr_grpo at hard "
                     f"{100 * h.dr_delta:+.2f} [{100 * dr_lo:+.2f}, {100 * dr_hi:+.2f}] pts).")
    saturated = table[table["level"].isin(["medium", "hard"]) & ~table["arm"].isin((BASELINE, *NOISE_ARMS))]
    passing = saturated[(saturated["primary_delta"] > 0) & (saturated["primary_p_holm"] < 0.05)]
    if len(passing):
        best = passing.sort_values("primary_delta").iloc[-1]
        lines.append("Positive control ESTABLISHED: " + "; ".join(
            f"{r.arm} at {r.level} {100 * r.primary_delta:+.2f} pts (Holm p {r.primary_p_holm:.3g}; at equal completions "
            f"{100 * r.primary_eq_completions_delta:+.2f})" for r in passing.itertuples())
            + f". Largest: {best.arm} at {best.level}.")
    else:
        mdes = ", ".join(f"{r.arm}@{r.level} {100 * r.primary_mde:.1f}" for r in saturated.itertuples())
        lines.append(f"Positive control NOT established: no remedy beats GRPO at medium or hard after Holm (MDE pts: {mdes}).")
    return lines


# ---- rendering -----------------------------------------------------------------------------------

def _delta(r: dict, outcome: str) -> str:
    if r[f"{outcome}_n_pairs"] == 0:
        return "baseline" if r["arm"] == BASELINE else "—"
    d, half = r[f"{outcome}_delta"], r[f"{outcome}_delta_ci95"]
    return f"{100 * d:+.1f}" + ("" if math.isnan(half) else f" [{100 * (d - half):+.1f}, {100 * (d + half):+.1f}]")


HEADER = ["level", "arm", "n", "primary %", "Δ primary pts [95% CI]", "p", "p (Holm)", "MDE pts", "secondary %",
          "Δ secondary pts [95% CI]", "p sec. (Holm)", "Δ primary at equal completions", "Δ secondary at equal completions",
          "zero-var frac (all-correct / all-wrong)", "trained groups informative", "zero-grad steps %",
          "clipped steps %", "mean pre-clip norm", "completions / step"]


def display_rows(table: pd.DataFrame) -> list[list[str]]:
    cells = []
    for r in table.to_dict("records"):
        cells.append([r["level"], r["arm"], str(r["n"]),
                      f"{_pct(r['primary_mean'])} ± {_pct(r['primary_ci95'])}", _delta(r, "primary"), _p(r["primary_p"]),
                      _p(r["primary_p_holm"]), _pct(r["primary_mde"]),
                      f"{_pct(r['secondary_mean'])} ± {_pct(r['secondary_ci95'])}", _delta(r, "secondary"),
                      _p(r["secondary_p_holm"]), _delta(r, "primary_eq_completions"), _delta(r, "secondary_eq_completions"),
                      f"{r['zero_var_frac']:.2f} ({r['all_correct_frac']:.2f} / {r['all_wrong_frac']:.2f})",
                      f"{r['trained_informative_frac']:.2f}", _pct(r["zero_grad_frac"]), _pct(r["clipped_frac"]),
                      f"{r['grad_norm_mean']:.2f}", f"{r['completions_per_step']:.0f}"])
    return cells


def budget_markdown(budget_table: pd.DataFrame) -> str:
    lines = ["| level | Δ_clip = redit − grpo | Δ_noclip = redit-noclip − grpo-noclip | D = Δ_noclip − Δ_clip | p (Holm, 3 levels) | "
             "MDE of D | steps clipped in noclip arms | Δ_dr = dr_grpo+redit − dr_grpo |", "|" + "---|" * 8]

    def ci(r, name):
        d, h = r[f"{name}_delta"], r[f"{name}_ci95"]
        return f"{100 * d:+.2f} [{100 * (d - h):+.2f}, {100 * (d + h):+.2f}]"

    for r in budget_table.to_dict("records"):
        lines.append(f"| {r['level']} | {ci(r, 'clip')} | {ci(r, 'noclip')} | {ci(r, 'D')} | {_p(r['D_p_holm'])} | "
                     f"{100 * r['D_mde']:.2f} | {r['noclip_clipped_steps']:.0f} | {ci(r, 'dr')} |")
    return "\n".join(lines) + "\n"


def notes() -> list[str]:
    return [f"Primary: {OUTCOMES['primary']}; secondary: {OUTCOMES['secondary']}. Mean ± {CI_METHOD}.",
            f"Δ: paired by seed against the level's GRPO arm; p: {TEST_METHOD}; p (Holm): {HOLM_METHOD}, per outcome "
            f"(30 contrasts each). MDE: {MDE_METHOD}.",
            "At equal completions: every arm but refill generates 64 completions a step, so there it equals the outcome at "
            "equal steps; refill's is measured over the same completion budget as GRPO's 60 steps (results/tiny/remedies.md).",
            "Zero-var frac: raw rewards, mean over steps and seeds (refill: over every drawn group). Trained groups informative: "
            "share of the groups in the update whose raw rewards differ. Clipped: pre-clip norm > max_grad_norm "
            "(1.0; 1e6 in the noclip arms). Completions / step: generated, including refill's extra draws.",
            "Clip-budget table: Δs in points on the primary outcome, paired by seed, 95 % t-CI."]


def to_markdown(table: pd.DataFrame, budget_table: pd.DataFrame, title: str = "") -> str:
    lines = [f"### {title}", ""] if title else []
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c) + " |" for c in display_rows(table)]
    lines += ["", "**Clip-budget test and ReDit under Dr.GRPO** (pre-registered third family):", "",
              budget_markdown(budget_table), "**Verdicts (criteria of results/tiny/remedies.md):**", ""]
    lines += [f"- {v}" for v in verdicts(table, budget_table)]
    lines += [""] + [f"{n}  " for n in notes()]
    return "\n".join(lines).rstrip() + "\n"


def write(runs: list[Run], out: Path, title: str) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """remedies_table.{csv,md,tex} and remedies_clip_budget.csv; returns (markdown, table, budget table)."""
    out = Path(out)
    table, budget_table = remedies_table(runs), clip_budget(runs)
    table.to_csv(out / "remedies_table.csv", index=False)
    budget_table.to_csv(out / "remedies_clip_budget.csv", index=False)
    markdown = to_markdown(table, budget_table, title)
    (out / "remedies_table.md").write_text(markdown)
    tex = [r"\begin{table}[t]", r"\centering", r"\tiny", r"\begin{tabular}{ll" + "r" * (len(HEADER) - 2) + "}", r"\toprule",
           " & ".join(_latex_escape(h) for h in HEADER) + r" \\", r"\midrule"]
    tex += [" & ".join(_latex_escape(c) for c in row) + r" \\" for row in display_rows(table)]
    tex += [r"\bottomrule", r"\end{tabular}", r"\caption{" + _latex_escape(" ".join([title + ".", *notes()])) + "}", r"\end{table}"]
    (out / "remedies_table.tex").write_text("\n".join(tex) + "\n")
    return markdown, table, budget_table


# ---- figures -------------------------------------------------------------------------------------

def headline_figure(table: pd.DataFrame, title: str | None = None) -> Figure:
    """One panel per level: each arm's Δ primary vs GRPO (95 % CI, pts), arms on the y axis; the
    right-most panel: each arm's share of clipped steps and mean pre-clip norm at the hard level."""
    import matplotlib.pyplot as plt

    levels = [lv for lv in REMEDIES_LEVELS if lv in set(table["level"])]
    fig, axes = plt.subplots(1, len(levels) + 1, figsize=(4.0 * (len(levels) + 1), 5.2), sharey=True)
    order = arms()  # every panel shares these rows; GRPO's row is empty in the Δ panels (it is the baseline)
    y = np.arange(len(order))[::-1]
    for ax, level in zip(axes, levels):
        rows = table[table["level"] == level].set_index("arm").reindex(order)
        colors = ["C3" if a in NOISE_ARMS else "C0" for a in order]
        for yi, (_, r), color in zip(y, rows.iterrows(), colors):
            if math.isnan(r["primary_delta"]):
                continue
            ax.errorbar(100 * r["primary_delta"], yi, xerr=100 * (0 if math.isnan(r["primary_delta_ci95"]) else r["primary_delta_ci95"]),
                        fmt="o", color=color, capsize=3)
            eq = r["primary_eq_completions_delta"]
            if not math.isnan(eq) and abs(eq - r["primary_delta"]) > 1e-9:  # refill: the same Δ at GRPO's sample budget
                ax.errorbar(100 * eq, yi - 0.3, xerr=100 * (0 if math.isnan(r["primary_eq_completions_delta_ci95"])
                                                             else r["primary_eq_completions_delta_ci95"]),
                            fmt="o", mfc="white", color=color, capsize=3)
            if r["primary_p_holm"] < 0.05:
                ax.annotate("*", (100 * (r["primary_delta"] + r["primary_delta_ci95"]), yi), xytext=(4, -4),
                            textcoords="offset points", fontsize=12)
        base = table[(table["level"] == level) & (table["arm"] == BASELINE)]
        frac = base["zero_var_frac"].iloc[0] if len(base) else math.nan
        n = int(rows["primary_n_pairs"].max()) if len(rows) else 0
        ax.axvline(0, color="grey", lw=1)
        ax.set_title(f"{level} (GRPO zero-var frac {frac:.2f}; n={n} pairs)", fontsize=9)
        ax.set_xlabel("Δ on-policy accuracy vs GRPO (pts, 95% CI)")
    axes[0].set_yticks(y)
    axes[0].set_yticklabels([f"{a} (baseline)" if a == BASELINE else a for a in order])
    last = axes[-1]
    hard = table[table["level"] == levels[-1]].set_index("arm").reindex(order)
    last.barh(y, 100 * hard["clipped_frac"].fillna(0), color="C7")
    twin = last.twiny()
    twin.plot(hard["grad_norm_mean"], y, "kD")
    twin.axvline(1.0, color="k", ls=":", lw=1)
    twin.set_xlabel("◆ mean pre-clip gradient norm (dotted: the clip threshold 1.0)", fontsize=8)
    last.set_xlabel("bars: steps clipped (%; noclip arms: threshold 1e6)")
    last.set_title(f"clip budget at {levels[-1]}", fontsize=9)
    handles = [plt.Line2D([], [], color="C3", marker="o", ls="", label="arms with ReDit noise"),
               plt.Line2D([], [], color="C0", marker="o", ls="", label="remedies without noise"),
               plt.Line2D([], [], color="C0", marker="o", mfc="white", ls="", label="the same at equal generated completions (refill)"),
               plt.Line2D([], [], color="k", marker="$*$", ls="", label="Holm p < 0.05 (none here)" if (table["primary_p_holm"].dropna() >= 0.05).all()
                          else "Holm p < 0.05")]
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=4, frameon=False)
    fig.suptitle(title or "Remedies for saturated groups: Δ vs GRPO per level", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def compute_figure(runs: list[Run]) -> Figure:
    """Held-out accuracy against cumulative generated completions, one panel per level, one line per
    arm (mean over seeds at each evaluation; x = mean cumulative completions there)."""
    import matplotlib.pyplot as plt

    from .figures import MARKERS

    by_cell: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        by_cell.setdefault(level_and_arm(r), []).append(r)
    levels = [lv for lv in REMEDIES_LEVELS if any(k[0] == lv for k in by_cell)]
    fig, axes = plt.subplots(1, len(levels), figsize=(5.2 * len(levels), 4.4), squeeze=False)
    for ax, level in zip(axes[0], levels):
        for i, arm in enumerate(arms()):
            members = by_cell.get((level, arm), [])
            if not members:
                continue
            xs, ys = [], []
            for r in members:
                cumulative = pd.concat([pd.Series({0: 0.0}), completions_per_step(r).cumsum()])
                curve = val_curve(r)
                xs.append(cumulative.reindex(curve.index))
                ys.append(curve)
            x, y = pd.concat(xs, axis=1).mean(axis=1), pd.concat(ys, axis=1).mean(axis=1)
            style = "-" if arm not in NOISE_ARMS else "--"
            ax.plot(x, 100 * y, style, marker=MARKERS[i % len(MARKERS)], color=f"C{i}" if i < 10 else "k",
                    lw=2 if arm in ("grpo", "refill") else 1, ms=4, label=f"{arm} (n={len(members)} seeds)")
        ax.axvline(budget(members[0]) if members else 3840, color="grey", ls=":", lw=1)
        ax.set_xlabel("cumulative generated completions")
        ax.set_ylabel("held-out greedy accuracy (%), mean over seeds")
        ax.set_title(f"{level}: evaluations at steps 0/20/40/60", fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=6, frameon=False)
    fig.suptitle("Held-out accuracy against generated completions (dotted: GRPO's budget, 60 steps x 64; dashed: arms with ReDit noise)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
