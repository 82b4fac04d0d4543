"""Every figure and table of the paper from a folder of runs, plus an indexing README.

    python -m analysis                      # --scale tiny: runs/tiny -> results/tiny
    python -m analysis --runs runs/paper --out results/paper-run1 --scale paper
    python -m analysis --runs runs/tiny --export-runs results/tiny/runs   # the compact committed copy

The regime experiment (analysis.regime) comes first: regime_table.{md,csv,tex} with the slope of
Δ on the measured zero-variance fraction, the headline figure and Figure 1 at its most saturated level.
Runs are grouped into experiments by their config.json's "experiment" (a folder without one is
"unlabelled": scripts/label_runs.py labels old runs). Per experiment it writes <experiment>_table.{md,csv,tex}
(main: main_table.*), the accuracy-vs-step figure, gradient-norm distributions, and where they apply
Figure 1 (main), the variance figure (σ varies) and σ per step (σ changes over steps). Then
paper_vs_repo.md (the paper's claims, from results/paper/reference.csv, beside this repo's numbers),
runs.csv (one row per run: the provenance of every cell) and README.md indexing all of it; a
hand-written findings.md in --out is included in the README.
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from pathlib import Path

import pandas as pd

from . import convergence, figures, regime, remedies
from .reader import METRICS_FILES, PAPER_EXPLODE, PAPER_VANISH, Run, load_runs, metric, pick_pair, run_summaries, SIGMA
from .tables import EXPERIMENTS, comparison_table, group_columns, is_baseline, table_notes, unique_runs, write_table

from redit import REPO_ROOT as REPO
REFERENCE = REPO / "results" / "paper" / "reference.csv"


REFERENCE_COLUMNS = ("id", "metric", "value", "task", "method", "step", "model", "location")


def reference_problem(path: Path) -> str | None:
    """Why the paper reference file cannot serve (None if it can), checked before --out is created."""
    try:
        columns = set(pd.read_csv(path, nrows=0).columns)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        return f"--reference {path} is not a readable CSV ({type(err).__name__}); pass results/paper/reference.csv"
    missing = [c for c in REFERENCE_COLUMNS if c not in columns]
    return (f"--reference {path} lacks the columns {', '.join(missing)}; pass results/paper/reference.csv" if missing else None)


def load_reference(path: Path = REFERENCE) -> pd.DataFrame:
    """The paper's known numbers (blank value = unknown, never guessed), indexed by id."""
    return pd.read_csv(path, dtype={"step": "Int64"}).set_index("id")


def paper_cells(reference: pd.DataFrame) -> dict:
    """(task, method) -> the paper's test accuracy as a table cell, where the paper gives one."""
    known = reference[(reference["metric"] == "test_acc_pct") & reference["value"].notna()]
    return {(r.task, r.method): f"{r.value:.2f} (step {r.step}, {r.model}; {r.location})" for r in known.itertuples()}


def experiments_of(runs: list[Run]) -> list[str]:
    """The experiments present, the regime first (the headline), then in registry order."""
    names = {r.experiment for r in runs}
    order = [regime.NAME] + [e for e in EXPERIMENTS if e != regime.NAME]
    return [e for e in order if e in names] + sorted(names - set(order))


def experiment_table(runs: list[Run], experiment: str, smooth_window: int = 3, vanish=PAPER_VANISH, explode=PAPER_EXPLODE):
    """(table, grouping columns) of one experiment; baselines missing from it are looked up in all runs."""
    members = [r for r in runs if r.experiment == experiment]
    by = group_columns(run_summaries(members))
    return comparison_table(members, by, pool=runs, smooth_window=smooth_window, vanish=vanish, explode=explode), by


def _fmt_p(p):
    return "p n/a" if math.isnan(p) else f"p={p:.2f}"


def _convergence_cells(runs: list[Run]) -> tuple[str, str] | None:
    """(steps ratio, equal-steps Δ) of the 400-step convergence study, per level, or None without it."""
    members = [r for r in runs if r.experiment == "convergence"]
    if not members:
        return None
    table = convergence.convergence_table(members)
    ratios, deltas = [], []
    for r in table[table["arm"] == "redit"].to_dict("records"):
        steps = int(r["steps"])
        if "T90_ratio" in r and not math.isnan(r["T90_ratio"]):
            ratios.append(f"{r['level']} ({steps} steps, {r['n']} seeds): {r['T90_ratio']:.2f} [{r['T90_ratio_lo']:.2f}, {r['T90_ratio_hi']:.2f}] "
                          f"to 90 % of GRPO's gain")
        deltas.append(f"{r['level']} ({steps} steps): {100 * r['final_delta']:+.1f} pts [{100 * (r['final_delta'] - r['final_delta_ci95']):+.1f}, "
                      f"{100 * (r['final_delta'] + r['final_delta_ci95']):+.1f}]")
    return "; ".join(ratios), "; ".join(deltas)


def paper_comparison(main: pd.DataFrame, reference: pd.DataFrame, runs: list[Run] | None = None) -> str:
    """The paper's headline claims next to what this repo's main experiment (and, where present, the
    400-step convergence study) measured."""
    ref = reference["value"]
    treated = main[main["method"] != main["baseline"]]
    gains = "; ".join(f"{r.task} {r.method}: {100 * r.delta_vs_baseline:+.1f} pts ({_fmt_p(r.p_value)}, n={r.n_pairs})"
                      for r in treated.itertuples()) or "no ReDit/baseline pair"
    ratios = "; ".join(f"{r.task} {r.method}: " + ("not reached" if math.isnan(r.steps_to_target) else
                       f"{r.steps_ratio:.2f} ({r.steps_to_target:.0f} vs {r.baseline_steps_to_target:.0f} steps)")
                       for r in treated.itertuples()) or "no ReDit/baseline pair"
    gsm8k = main[main["task"] == "gsm8k"]
    fig1 = ("; ".join(f"{r.method}: {100 * r.final_acc_mean:.2f} at step {r.train_steps:.0f}" for r in gsm8k.itertuples())
            if len(gsm8k) else f"not run at this scale (tasks: {', '.join(sorted(main['task'].astype(str).unique()))})")
    events = "; ".join(f"{r.task} {r.method}: {r.vanishing_steps_total:.0f} / {r.exploding_steps_total:.0f} over "
                       f"{r.n_seeds} runs × {r.train_steps:.0f} steps" for r in main.itertuples())
    rows = [
        ("ReDit's accuracy gain over GRPO at equal steps", f"+{ref['abstract_gain']:g} % (abstract, average)", "abstract_gain", gains),
        ("ReDit's steps to GRPO's final accuracy, as a fraction of GRPO's", f"~{ref['abstract_steps_fraction']:.2f} (abstract, average)",
         "abstract_steps_fraction", ratios),
        ("GSM8K test accuracy, GRPO vs ReDit (Qwen2.5-7B, step 1000)", f"{ref['fig1_grpo_acc']:.2f} vs {ref['fig1_redit_acc']:.2f}",
         "fig1_grpo_acc, fig1_redit_acc", fig1),
        ("vanishing / exploding steps (pre-clip norm < 0.01 / > 5)", "GRPO: clusters and spikes to ~30; ReDit: none marked (Figure 1; not counted)",
         "fig1_vanish_threshold, fig1_explode_threshold", events),
    ]
    long = _convergence_cells(runs or [])
    if long:
        rows.insert(2, ("ReDit's steps to GRPO's accuracy over a long horizon (convergence study)",
                        f"~{ref['abstract_steps_fraction']:.2f} (abstract, average)", "abstract_steps_fraction", long[0] or "no GRPO gain to reach"))
        rows.insert(1, ("ReDit's gain at equal steps, end of 400 steps (convergence study, held-out)", f"+{ref['abstract_gain']:g} %",
                        "abstract_gain", long[1]))
    lines = ["| claim | paper | source (reference.csv id) | this repo |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


def _figures_for(experiment: str, members: list[Run], out: Path, slug: str, args, by: list[str],
                 pool: list[Run]) -> list[tuple[str, Path]]:
    written, label = [], figures.arm_label(by)
    tasks = sorted({str(r.task) for r in members})
    for task in tasks:
        task_runs = [r for r in members if str(r.task) == task]
        suffix = f"_{task}" if len(tasks) > 1 else ""
        fig = figures.accuracy_vs_step(task_runs, label, args.reference_step, args.smooth_evals,
                                       title=f"{experiment}: {task} — validation accuracy, one panel per arm beside its baseline",
                                       pool=pool)
        written.append((f"accuracy vs step ({task}): one panel per arm beside its own baseline (grey), 95% band over seeds, "
                        "dashed: the arm's final level", figures.save(fig, out / f"{slug}_accuracy_vs_step{suffix}")))
        if experiment == "main":
            try:
                pair = pick_pair(task_runs, treatment=args.treatment)
                fig = figures.figure1(list(pair), args.vanish, args.explode, title=f"{task}: GRPO vs {args.treatment}")
                written.append((f"Figure 1 ({task}): grad norm (log) + reward, {pair[0].name} vs {pair[1].name}",
                                figures.save(fig, out / f"figure1_grad_norm{suffix}")))
            except ValueError as err:
                print(f"[analysis] figure 1 ({task}) skipped: {err}")
    written.append(("gradient-norm distributions per arm (log x; exact zeros as their own bar)", figures.save(
        figures.grad_norm_distributions(members, args.vanish, args.explode, label, log_counts=args.log_counts),
        out / f"{slug}_grad_norm_distributions")))
    stds_per_dist = {}
    for r in members:  # a sweep: one distribution at several constant noise stds on every group
        if not is_baseline(r) and r.info["schedule"] == "constant" and r.info["scope"] == "all" and r.info["adaptive"] == "none":
            stds_per_dist.setdefault(r.info["dist"], set()).add(r.info["noise_std"])
    if any(len(s) > 1 for s in stds_per_dist.values()):
        written.append(("final accuracy vs noise std per distribution", figures.save(
            figures.variance_ablation(unique_runs(members + [r for r in pool if is_baseline(r)
                                                             and any(r.setting_key == m.setting_key for m in members)]), experiment),
            out / f"{slug}_variance")))
    if any(metric(r, SIGMA).nunique() > 1 for r in members):
        written.append(("σ per step per arm (mean over seeds, min–max shaded)", figures.save(
            figures.sigma_vs_step([r for r in members if not is_baseline(r)], experiment, label), out / f"{slug}_sigma_vs_step")))
    return written


def _regime_section(runs: list[Run], out: Path, title: str) -> tuple[str, list[tuple[str, str]], tuple]:
    """(markdown, index entries, figure job) of the regime experiment; the job draws its figures."""
    members = [r for r in runs if r.experiment == regime.NAME]
    table = regime.regime_table(members, pool=runs)
    slope_text = regime.slope_lines(members, table)
    markdown = regime.write(table, out / "regime_table", title, slope_text)
    index = [("regime_table.md / .csv / .tex", title + " (CSV: every column, fractions)")]
    return markdown, index, (_regime_figures, (members, table, title, out))


def _regime_figures(members: list[Run], table, title: str, out: Path) -> list[tuple[str, Path]]:
    figs = [("ReDit − GRPO Δ vs measured zero-variance fraction, zero-gradient steps beside it",
             figures.save(regime.headline_figure(table, title), out / "regime_delta_vs_saturation"))]
    try:
        figs.append(("Figure 1 at the most saturated level (log y)", figures.save(regime.regime_figure1(members, table),
                                                                                  out / "figure1_regime")))
    except ValueError as err:
        print(f"[analysis] regime figure 1 skipped: {err}")
    return figs


def _remedies_section(runs: list[Run], out: Path, title: str):
    members = [r for r in runs if r.experiment == remedies.NAME]
    markdown, table, _ = remedies.write(members, out, title)
    index = [("remedies_table.md / .csv / .tex, remedies_clip_budget.csv", title + " (pre-registered: remedies.md)")]
    return markdown, index, (_remedies_figures, (members, table, title, out))


def _remedies_figures(members: list[Run], table, title: str, out: Path) -> list[tuple[str, Path]]:
    return [("each arm's Δ vs GRPO per level (95% CI) and the clip budget at the hard level",
             figures.save(remedies.headline_figure(table, title), out / "remedies_delta")),
            ("held-out accuracy against cumulative generated completions per arm (compute accounting)",
             figures.save(remedies.compute_figure(members), out / "remedies_vs_completions"))]


def _convergence_section(runs: list[Run], out: Path, experiment: str, title: str):
    members = [r for r in runs if r.experiment == experiment]
    if experiment == "convergence":
        table = convergence.convergence_table(members)
        table.to_csv(out / "convergence_table.csv", index=False)
        markdown = convergence.convergence_markdown(table, title)
        (out / "convergence_table.md").write_text(markdown)
        return markdown, [("convergence_table.md / .csv", title + " (pre-registered: convergence.md)")], \
            (_figure_of, ("held-out accuracy vs step, both arms, targets drawn", convergence.convergence_figure, (members, table),
                          out / "convergence_accuracy_vs_step"))
    table, slopes = convergence.size_table(members)
    table.drop(columns=[c for c in table.columns if c.endswith("_per_seed")]).to_csv(out / "size_table.csv", index=False)
    slopes.to_csv(out / "size_slopes.csv", index=False)
    markdown = convergence.size_markdown(table, slopes, title)
    (out / "size_table.md").write_text(markdown)
    return markdown, [("size_table.md / .csv, size_slopes.csv", title + " (pre-registered: convergence.md)")], \
        (_figure_of, ("Δ against parameters (log axis) with the fitted slope", convergence.size_figure, (table, slopes),
                      out / "size_delta_vs_params"))


def _figure_of(what: str, draw, draw_args: tuple, path: Path) -> list[tuple[str, Path]]:
    return [(what, figures.save(draw(*draw_args), path))]


def _show(markdown: str, experiment: str, n_runs: int, whole: bool) -> None:
    """The table on stdout with --print-tables; else its title, verdicts and missing-baseline lines only
    (the tables are in --out; all of them printed were ~20 KB)."""
    if whole:
        print(markdown)
        return
    lines = markdown.splitlines()
    title = next((line.lstrip("# ") for line in lines if line.startswith("#")), experiment)
    keep = [line for line in lines if line.startswith("- ") or "no GRPO baseline" in line or line.startswith("Slope of")]
    print("\n".join([f"[analysis] {title} ({n_runs} runs)", *(f"  {line.strip()}" for line in keep[:8])]))


# Figure jobs of one report, set just before the worker processes fork: they read their job by index
# from this inherited copy, so no run (pandas frames) is pickled on the way in, only paths on the way out.
_FIGURE_JOBS: list[tuple] = []


def _draw_job(i: int) -> list[tuple[str, Path]]:
    draw, draw_args = _FIGURE_JOBS[i]
    return draw(*draw_args)


def draw_figures(jobs: list[tuple], workers: int) -> list[list[tuple[str, Path]]]:
    """Run figure jobs (function, args) -> [(what, png path)], in `workers` forked processes when there
    are several jobs (drawing and saving PNG + PDF is most of an analysis run); results in job order."""
    global _FIGURE_JOBS
    import multiprocessing

    if workers <= 1 or len(jobs) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [draw(*draw_args) for draw, draw_args in jobs]
    _FIGURE_JOBS = jobs
    try:
        with multiprocessing.get_context("fork").Pool(min(workers, len(jobs))) as pool:
            return pool.map(_draw_job, range(len(jobs)), chunksize=1)
    finally:
        _FIGURE_JOBS = []


def build_report(args) -> Path:
    runs = load_runs(args.runs, include_incomplete=args.include_incomplete)
    if not runs:
        raise SystemExit(f"error: no finished run folders under {args.runs}; run ./run_all.sh first (or pass --runs).")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    reference = load_reference(args.reference)
    summary = run_summaries(runs, args.vanish, args.explode)
    for col in ("path", "model"):  # repository-relative, so the committed file names no machine
        summary[col] = [_rel(v, REPO) if v and Path(v).resolve().is_relative_to(REPO) else v for v in summary[col]]
    summary.to_csv(out / "runs.csv", index=False)
    sections, index = [], [("runs.csv", "one row per run: config, final accuracy, gradient events, missing keys")]
    main_table = None
    pending = []  # per experiment: (section markdown, its index entries, its figure job, log line)
    for experiment in experiments_of(runs):
        members = [r for r in runs if r.experiment == experiment]
        slug = experiment.replace("/", "_")
        title = EXPERIMENTS.get(experiment, f"Experiment {experiment} (not in the registry)")
        if experiment in (regime.NAME, remedies.NAME, "convergence", "size"):
            if experiment == regime.NAME:
                markdown, entries, job = _regime_section(runs, out, title)
            elif experiment == remedies.NAME:
                markdown, entries, job = _remedies_section(runs, out, title)
            else:
                markdown, entries, job = _convergence_section(runs, out, experiment, title)
            _show(markdown, experiment, len(members), args.print_tables)
            pending.append((markdown, entries, job, None))
            continue
        table, by = experiment_table(runs, experiment, args.smooth_evals, args.vanish, args.explode)
        stem = "main_table" if experiment == "main" else f"{slug}_table"
        paper = paper_cells(reference) if experiment in ("main", "baselines") else None
        paper = paper if paper and any((t, m) in paper for t, m in zip(table["task"], table["method"])) else None
        markdown = write_table(table, by, out / stem, title, table_notes(table, args.smooth_evals, args.vanish, args.explode), paper)
        _show(markdown, experiment, len(members), args.print_tables)
        main_table = table if experiment == "main" else main_table
        pending.append((markdown, [(f"{stem}.md / .csv / .tex", title)],
                        (_figures_for, (experiment, members, out, slug, args, by, runs)),
                        f"[analysis] {experiment}: {len(members)} runs -> {stem}.*, {{}} figures"))
    drawn = draw_figures([job for _, _, job, _ in pending], args.jobs)
    for (markdown, entries, _, log_line), figs in zip(pending, drawn):
        index += entries + [(p.name + " / .pdf", what) for what, p in figs]
        sections.append(markdown.replace("### ", "## ", 1) + "\n" + "\n".join(f"![{what}]({p.name})" for what, p in figs) + "\n")
        if log_line:
            print(log_line.format(len(figs)))
    if main_table is not None:
        comparison = paper_comparison(main_table, reference, runs)
        (out / "paper_vs_repo.md").write_text(comparison)
        index.append(("paper_vs_repo.md", "the paper's claims beside this repo's numbers"))
        sections.append("## The paper side by side\n\n" + comparison + f"\nPaper numbers: [`{_rel(args.reference, out)}`]({_rel(args.reference, out)}) "
                        "(each with its source; unknown numbers are blank there, never guessed).\n")
    write_readme(out, args, runs, index, sections)
    return out / "README.md"


# Metric keys left out of the compact copy: TRL's own duplicates of the shared schema (trl/*) and
# wall-clock timings (timing_s/*), which no table or figure reads and which dominate the size.
EXPORT_DROP_PREFIXES = ("trl/", "timing_s/")


def export_runs(runs_root: Path, dest: Path, drop_prefixes=EXPORT_DROP_PREFIXES) -> dict:
    """A compact copy of a runs folder for committing: per run folder config.json, done.json and
    metrics.jsonl.gz (gzip, mtime 0: byte-stable; keys under drop_prefixes left out); no checkpoints
    or logs. Symlinked run folders (a run shared by two experiments) stay symlinks with the same
    relative target. Returns {"runs", "links", "bytes"}."""
    import gzip
    import json
    import os

    runs_root, dest = Path(runs_root), Path(dest)
    if not runs_root.is_dir():
        raise FileNotFoundError(f"no run folder {runs_root}; pass --runs with a folder of finished runs.")
    counts = {"runs": 0, "links": 0, "bytes": 0}
    for directory, subdirs, files in os.walk(runs_root):
        here = Path(directory)
        for sub in list(subdirs):
            if (here / sub).is_symlink():
                subdirs.remove(sub)  # copied as a link below, never walked twice
                link = dest / (here / sub).relative_to(runs_root)
                link.parent.mkdir(parents=True, exist_ok=True)
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(os.readlink(here / sub))
                counts["links"] += 1
        source = next((here / name for name in METRICS_FILES if name in files), None)
        if source is None or not (here / "done.json").is_file():
            continue  # unfinished runs are not exported
        target = dest / here.relative_to(runs_root)
        target.mkdir(parents=True, exist_ok=True)
        lines = []
        raw = gzip.decompress(source.read_bytes()).decode() if source.suffix == ".gz" else source.read_text()
        for line in raw.splitlines():
            try:
                record = json.loads(line)
                record["data"] = {k: v for k, v in record["data"].items() if not k.startswith(tuple(drop_prefixes))}
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # the reader would skip it too
            lines.append(json.dumps(record, sort_keys=True))
        with open(target / "metrics.jsonl.gz", "wb") as f:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
                gz.write(("\n".join(lines) + "\n").encode())
        for name in ("config.json", "done.json"):
            if (here / name).is_file():
                (target / name).write_bytes((here / name).read_bytes())
        counts["runs"] += 1
    counts["bytes"] = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file() and not p.is_symlink())
    return counts


def _rel(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(Path(path).resolve(), Path(start).resolve())


OTHER_FILES = {"findings.md": "interpretation of these results, hand-written (shown below)",
               "regime.md": "the regime experiment's pre-registration and its findings",
               "runs": "the run folders these results come from, compact (`python -m analysis --export-runs`); the notebooks read them"}


def write_readme(out: Path, args, runs: list[Run], index, sections) -> None:
    shas = sorted({str((r.config.get("git") or {}).get("sha", ""))[:10] for r in runs} - {""})
    backends = sorted({str(r.config.get("backend")) for r in runs})
    intro = [f"# Results — {args.scale} scale", "",
             "Generated by `python -m analysis " + " ".join(args.argv) + "` (do not edit by hand: "
             "rerun it; interpretation lives in `findings.md`).",
             f"Source: {len(runs)} finished run folders under `{_rel(args.runs, REPO) if Path(args.runs).resolve().is_relative_to(REPO) else args.runs}` "
             f"(backends: {', '.join(backends)}; commits: {', '.join(shas) or 'unknown'}).", ""]
    findings = out / "findings.md"
    reading = ["## Findings", "", findings.read_text().strip(), ""] if findings.is_file() else []
    # the paper's claims beside this repository's numbers open the page (issue 23)
    paper = [sec for sec in sections if sec.startswith("## The paper side by side")]
    sections = [sec for sec in sections if not sec.startswith("## The paper side by side")]
    intro += paper
    # the headline experiment (regime) and what it says open the page; the other tables follow the index
    lead = [sections.pop(0)] + reading if sections and sections[0].startswith("## Regime") else []
    head = ["Experiments in these runs (titles from `redit/registry.py`):", ""]
    head += [f"- `{e}`: {EXPERIMENTS.get(e, '(not in the registry)')} — {sum(r.experiment == e for r in runs)} runs"
             for e in experiments_of(runs)]
    head += ["", "| file | what |", "|---|---|"] + [f"| `{f}` | {w} |" for f, w in index]
    # every other file present is indexed too (hand-written notes, compact runs, files of earlier analyses)
    named = {Path(f.split(" / ")[0]).stem for f, _ in index}  # "x_table.md / .csv / .tex" names every x_table.*
    others = sorted(p for p in out.iterdir() if p.name != "README.md" and (p.is_dir() or p.stem not in named))
    unknown = "not written by this analysis run (hand-written, or left by an earlier one)"
    head += [f"| `{p.name}{'/' if p.is_dir() else ''}` | {OTHER_FILES.get(p.name, unknown)} |" for p in others] + [""]
    tail = [] if lead else reading
    (out / "README.md").write_text("\n".join(intro + lead + head) + "\n" + "\n".join(sections) + "\n" + "\n".join(tail))


def main(argv=None) -> int:
    import sys

    import matplotlib

    matplotlib.use("Agg")
    p = argparse.ArgumentParser(prog="python -m analysis", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", default="tiny", help="label of the results and default folders: runs/<scale> -> results/<scale> (default tiny)")
    p.add_argument("--runs", type=Path, help="folder of run folders (default runs/<scale>)")
    p.add_argument("--out", type=Path, help="where figures, tables and README go (default results/<scale>)")
    p.add_argument("--reference", type=Path, default=REFERENCE, help="the paper's numbers (default results/paper/reference.csv)")
    p.add_argument("--treatment", default="redit-gaussian", help="ReDit method of Figure 1 (default redit-gaussian)")
    p.add_argument("--reference-step", type=int, help="step of the dashed line in accuracy-vs-step (default: each arm's last evaluation)")
    p.add_argument("--smooth-evals", type=int, default=3, help="evaluations averaged for steps-to-target (default 3)")
    p.add_argument("--vanish", type=float, default=PAPER_VANISH, help="vanishing threshold on the pre-clip norm (paper: 0.01)")
    p.add_argument("--explode", type=float, default=PAPER_EXPLODE, help="exploding threshold on the pre-clip norm (paper: 5)")
    p.add_argument("--include-incomplete", action="store_true", help="also analyse runs without done.json")
    p.add_argument("--log-counts", action="store_true", help="log-scaled counts in the gradient-norm distributions")
    p.add_argument("--print-tables", action="store_true", help="print every table to stdout (default: titles and verdicts; the tables are in --out)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes drawing figures (default: 2, or 1 on a 1-core machine; 1 draws in this process)")
    p.add_argument("--export-runs", type=Path, metavar="DIR",
                   help="instead of the report: write a compact copy of --runs to DIR (config.json, done.json, "
                        "metrics.jsonl.gz without trl/* and timing_s/* keys; links kept) and print its size")
    argv = list(sys.argv[1:] if argv is None else argv)
    def one_line_error(message):
        raise SystemExit(print(f"error: {message}; see python -m analysis --help", file=sys.stderr) or 2)

    p.error = one_line_error
    try:
        args = p.parse_args(argv)
    except SystemExit as stop:
        return stop.code
    args.argv = argv
    if args.runs is not None and args.out is None and not args.export_runs \
            and Path(args.runs).resolve() != (Path("runs") / args.scale).resolve():
        print(f"error: --runs {args.runs} is not runs/{args.scale}: pass --out DIR, so that results/{args.scale} "
              f"(the committed results of the full grid) is not overwritten.", file=sys.stderr)
        return 2
    args.runs = args.runs or Path("runs") / args.scale
    args.out = args.out or Path("results") / args.scale
    problem = (f"no paper reference file {args.reference}; pass --reference results/paper/reference.csv"
               if not Path(args.reference).is_file() else
               reference_problem(args.reference) if reference_problem(args.reference) else
               f"--export-runs {args.export_runs} is a file, not a folder; choose another folder"
               if args.export_runs and Path(args.export_runs).exists() and not Path(args.export_runs).is_dir() else
               "--smooth-evals must be >= 1" if args.smooth_evals < 1 else
               "--jobs must be >= 1" if args.jobs < 1 else
               f"--out {args.out} is a file, not a folder; choose another --out" if args.out.exists() and not args.out.is_dir() else None)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.export_runs:
        try:
            counts = export_runs(args.runs, args.export_runs)
        except (FileNotFoundError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"[analysis] exported {counts['runs']} runs (+{counts['links']} links) to {args.export_runs}: "
              f"{counts['bytes'] / 1024:.0f} KiB")
        return 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            readme = build_report(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk or a read-only --out: the write that failed, in one line
        print(f"error: cannot write {err.filename or args.out} ({err.strerror or type(err).__name__}); free space or "
              "choose another --out, then run the analysis again.", file=sys.stderr)
        return 2
    print(f"[analysis] wrote {readme}")
    return 0
