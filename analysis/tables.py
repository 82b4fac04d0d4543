"""Comparison tables (main, baselines, sigma / distribution / schedule ablations) in CSV, Markdown
and LaTeX. One row per group of runs (seeds pooled); every cell is computed from run folders."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from redit import registry

from .reader import PAPER_EXPLODE, PAPER_VANISH, Run, final_val_acc, run_summaries, val_curve
from .stats import CI_METHOD, HOLM_METHOD, MDE_METHOD, TEST_METHOD, holm, mean_ci, mean_curve, paired_summary, smooth, steps_to_target

# Experiment titles come from the registry (a run's experiment = its config.json's "experiment").
EXPERIMENTS = registry.titles()
ALWAYS_BY = ["task", "method"]
VARYING_BY = ["algorithm", "sigma", "noise_std", "schedule", "sigma_end", "scope", "adaptive"]  # shown only when they vary in the table
NOT_GROUPING = {"run", "experiment", "variant", "seed", "git_sha", "dist", "steps", "path", "complete",
                "final_acc", "train_steps", "vanishing_steps", "exploding_steps", "zero_std_frac_raw", "missing",
                "zero_grad_steps", "zero_grad_frac", "exploding_scaled_steps", "zero_std_frac_all_correct",
                "zero_std_frac_all_wrong", "primary", "secondary"}


def group_columns(summary: pd.DataFrame) -> list[str]:
    """task and method, plus every other config column whose value differs between these runs."""
    extra = [c for c in summary.columns if c not in NOT_GROUPING and c not in ALWAYS_BY and c not in VARYING_BY]
    return ALWAYS_BY + [c for c in VARYING_BY + extra
                        if c in summary and summary[c].astype(str).nunique(dropna=False) > 1]


def is_baseline(run: Run) -> bool:
    return run.info["dist"] == "none" and run.info["adaptive"] == "none"


def unique_runs(runs: list[Run]) -> list[Run]:
    """Each run once: a run linked into several experiments (the sweep's de-duplication) is one run, not n copies."""
    return list({r.path.resolve(): r for r in reversed(runs)}.values())[::-1]


def one_per_seed(runs: list[Run], prefer: str | None = None) -> list[Run]:
    """Distinct runs (unique_runs), at most one per (setting, seed): two runs of one setting and seed are two
    copies of one baseline (e.g. after --quick, main/grpo-s0 and the regime's default-grpo-s0), shown and
    counted once. Kept: the run of experiment `prefer`, else of "main", else the first by path."""
    ordered = sorted(unique_runs(runs), key=lambda r: (r.experiment != prefer, r.experiment != "main", str(r.path)))
    kept: dict[tuple, Run] = {}
    for r in ordered:
        kept.setdefault((r.setting_key, str(r.seed)), r)
    chosen = {id(r) for r in kept.values()}
    return [r for r in unique_runs(runs) if id(r) in chosen]


def baseline_runs(runs: list[Run], like: Run, pool: list[Run] | None = None) -> list[Run]:
    """The undithered runs of like's setting (Run.setting: same task, algorithm, steps, task
    difficulty, temperature, group size, model, ...; only dithering and seed may differ); the same
    experiment's runs first, else `pool`. Each run once and one run per seed (one_per_seed), so a
    baseline's n is the number of distinct runs shown."""
    def matches(r):
        return is_baseline(r) and r.setting_key == like.setting_key
    for candidates in (runs, pool or []):
        found = one_per_seed([r for r in candidates if matches(r)], prefer=like.experiment)
        if found:
            return found
    return []


def missing_baseline_note(run: Run) -> str:
    """One line: `run` has no undithered baseline of its setting among the runs, and which experiment
    of redit/registry.py supplies one (an undithered arm of the same algorithm at the same steps)."""
    algorithm, steps = run.info["algorithm"], run.info["steps"]
    sources = [e for e in registry.EXPERIMENTS.values() if e.name != run.experiment and any(
        v.algorithm == algorithm and v.dist == "none" and v.adaptive == "none" and not v.trl_options and "trl" in v.backends
        for v in e.variants.values())]
    same_steps = [e.name for e in sources if e.steps == steps]
    source = (same_steps or [e.name for e in sources if e.name == "main"] or [e.name for e in sources] or [None])[0]
    name = algorithm.upper() if algorithm == "grpo" else algorithm
    how = (f": run ./run_all.sh --only {source},{run.experiment}" + ("" if same_steps else " with the same --seeds/--steps")
           if source and run.experiment in registry.EXPERIMENTS else f": add undithered {algorithm} runs of this setting")
    return f"no {name} baseline among these runs (undithered {algorithm}, same setting, {steps} steps){how}"


def paired_with_baseline(members: list[Run], runs: list[Run], pool: list[Run], outcome) -> dict:
    """stats.paired_summary of outcome(run) between each member and the baseline run of its own
    setting and seed (a member without one is left out of the pairs)."""
    treated, base = {}, {}
    for run in members:
        partner = [b for b in baseline_runs(runs, run, pool) if b.seed == run.seed]
        if partner:
            treated[run.seed], base[run.seed] = outcome(run), outcome(partner[0])
    return paired_summary(treated, base)


def comparison_table(runs: list[Run], by: list[str] | None = None, pool: list[Run] | None = None,
                     smooth_window: int = 3, vanish: float = PAPER_VANISH, explode: float = PAPER_EXPLODE) -> pd.DataFrame:
    """One row per group of `by` columns (default: group_columns): final validation accuracy mean and
    95 % t-CI over seeds; paired-by-seed difference and p-value against the baseline (same
    algorithm, no dithering; found in `runs`, else in `pool`); steps-to-target = first step at which
    the group's seed-mean validation curve, smoothed over `smooth_window` evaluations, reaches the
    baseline's final smoothed accuracy, and its ratio to the baseline's own steps-to-target; mean
    vanishing / exploding step counts per run."""
    summary = run_summaries(runs, vanish, explode)
    by = by or group_columns(summary)
    by_run = {r.name: r for r in runs}
    rows, no_baseline = [], []
    for key, group in summary.groupby(by, sort=True, dropna=False):
        members = [by_run[name] for name in group["run"]]
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        mean, half, n = mean_ci(group["final_acc"])
        row.update(n_seeds=n, seeds=" ".join(str(s) for s in group["seed"]), final_acc_mean=mean, final_acc_ci95=half,
                   final_acc_per_seed=" ".join("nan" if math.isnan(a) else f"{a:.3f}" for a in group["final_acc"]))
        base = baseline_runs(runs, members[0], pool or runs)
        curve = mean_curve([val_curve(r) for r in members])["mean"]
        base_curve = mean_curve([val_curve(r) for r in base])["mean"]
        target = float(smooth(base_curve, smooth_window).iloc[-1]) if len(base_curve) else math.nan
        row["baseline"] = base[0].method if base else ""
        if not base and not is_baseline(members[0]):
            no_baseline.append(missing_baseline_note(members[0]))
        paired = paired_with_baseline(members, runs, pool or runs, final_val_acc) if not is_baseline(members[0]) else {}
        row.update(delta_vs_baseline=paired.get("delta", math.nan), delta_ci95=paired.get("delta_ci95", math.nan),
                   p_value=paired.get("p", math.nan), n_pairs=paired.get("n", 0), sd_diff=paired.get("sd_diff", math.nan),
                   mde=paired.get("mde", math.nan))
        row["target_acc"] = target
        row["steps_to_target"] = steps_to_target(curve, target, smooth_window)
        row["baseline_steps_to_target"] = steps_to_target(base_curve, target, smooth_window)
        row["steps_ratio"] = (row["steps_to_target"] / row["baseline_steps_to_target"]
                              if row["baseline_steps_to_target"] else math.nan)
        row.update(vanishing_steps_mean=group["vanishing_steps"].mean(), exploding_steps_mean=group["exploding_steps"].mean(),
                   vanishing_steps_total=group["vanishing_steps"].sum(min_count=1),
                   exploding_steps_total=group["exploding_steps"].sum(min_count=1),
                   train_steps=group["train_steps"].max(),
                   missing="; ".join(f"{r}: {m}" for r, m in zip(group["run"], group["missing"]) if m))
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table.insert(table.columns.get_loc("p_value") + 1, "p_holm", holm(table["p_value"]))
    table.attrs["no_baseline"] = list(dict.fromkeys(no_baseline))  # table_notes says it, in one line each
    return table


# ---- rendering -----------------------------------------------------------------------------------

def readable(x) -> str:
    """A table cell or legend number people can read: two significant digits (σ = 0.087, not 0.0866025);
    the CSV keeps the full value."""
    if isinstance(x, float):
        return "—" if math.isnan(x) else f"{x:.2g}"
    return str(x)


def _pct(x, digits=1):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}"


def _num(x, fmt="{:.1f}"):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def display_rows(table: pd.DataFrame, by: list[str], paper: dict | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and cells as shown in Markdown and LaTeX (accuracies in %, "—" = not available)."""
    header = [*by, "final acc % (mean ± 95% CI)", "n", "Δ vs baseline (pts, 95% CI)", "p (paired)", "p (Holm)", "MDE (pts)",
              "steps to baseline's final acc", "× baseline steps", "vanishing / exploding steps per run"]
    if paper:
        header.insert(len(by) + 1, "paper")
    cells = []
    for r in table.to_dict("records"):
        acc = "—" if math.isnan(r["final_acc_mean"]) else (
            f"{_pct(r['final_acc_mean'])} ± {_pct(r['final_acc_ci95'])}" if r["n_seeds"] > 1 else _pct(r["final_acc_mean"]))
        is_base = r["baseline"] and r["method"] == r["baseline"] and r["n_pairs"] == 0
        delta = "baseline" if is_base else "no baseline" if not r["baseline"] else _num(100 * r["delta_vs_baseline"], "{:+.1f}") + (
            "" if math.isnan(r["delta_ci95"]) else f" ± {100 * r['delta_ci95']:.1f}")
        p = "" if is_base else _num(r["p_value"], "{:.3f}")
        p_holm = "" if is_base else _num(r["p_holm"], "{:.3f}")
        mde_cell = "" if is_base else _num(100 * r["mde"], "{:.1f}")
        steps = "not reached" if math.isnan(r["steps_to_target"]) and not math.isnan(r["target_acc"]) else _num(r["steps_to_target"], "{:.0f}")
        line = [readable(r[c]) for c in by]
        line += [acc, str(r["n_seeds"]), delta, p, p_holm, mde_cell, steps, _num(r["steps_ratio"], "{:.2f}"),
                 f"{_num(r['vanishing_steps_mean'])} / {_num(r['exploding_steps_mean'])}"]
        if paper:
            line.insert(len(by) + 1, paper.get((r.get("task"), r["method"]), ""))
        cells.append(line)
    return header, cells


def table_notes(table: pd.DataFrame, smooth_window: int = 3, vanish=PAPER_VANISH, explode=PAPER_EXPLODE) -> list[str]:
    notes = [f"CI: {CI_METHOD}. p: {TEST_METHOD}, against the baseline column's method "
             "(the undithered runs of the same setting: task, algorithm, steps, task difficulty, temperature, "
             f"group size, model); Δ ± its 95 % t-CI over the paired seeds. p (Holm): {HOLM_METHOD}. "
             f"MDE: {MDE_METHOD}.",
             f"Steps to baseline's final acc: first step where the seed-mean validation accuracy, smoothed over "
             f"{smooth_window} evaluations, reaches the baseline's final smoothed accuracy; × baseline steps = that "
             f"step / the baseline's own (the paper's \"~10 % of the steps\" claim would read 0.10).",
             f"Vanishing / exploding: steps with pre-clip gradient norm < {vanish:g} / > {explode:g}."]
    notes += table.attrs.get("no_baseline", [])[:1]  # one line, not one per arm
    missing = [m for m in table.get("missing", []) if m]
    if missing:
        notes.append("— = not logged. Runs lacking keys: " + "; ".join(missing) + ".")
    return notes


def to_markdown(table: pd.DataFrame, by: list[str], title: str = "", notes: list[str] | None = None,
                paper: dict | None = None) -> str:
    header, cells = display_rows(table, by, paper)
    lines = [f"### {title}", ""] if title else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    lines += [""] + [f"{n}  " for n in (notes or [])]
    return "\n".join(lines).rstrip() + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("Δ", r"$\Delta$"), ("×", r"$\times$"), ("σ", r"$\sigma$"), ("—", "--"),
                 ("~", r"\textasciitilde{}"), ("<", "$<$"), (">", "$>$")):
        text = text.replace(a, b)
    return text


def to_latex(table: pd.DataFrame, by: list[str], caption: str = "", paper: dict | None = None) -> str:
    header, cells = display_rows(table, by, paper)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{" + "l" * len(by) + "r" * (len(header) - len(by)) + "}",
             r"\toprule", " & ".join(_latex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_escape(c) for c in row) + r" \\" for row in cells]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(r"\caption{" + _latex_escape(caption) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, by: list[str], out: Path, title: str, notes: list[str], paper: dict | None = None) -> str:
    """out.csv (raw numbers, fractions), out.md and out.tex; returns the Markdown."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".csv"), index=False)
    markdown = to_markdown(table, by, title, notes, paper)
    out.with_suffix(".md").write_text(markdown)
    out.with_suffix(".tex").write_text(to_latex(table, by, title + ". " + " ".join(notes), paper))
    return markdown
