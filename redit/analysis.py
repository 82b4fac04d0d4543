"""Analysis of run folders from any backend: the paper's Figure 1 and the main accuracy table.

    python -m redit.analysis --runs runs/tiny --out results/tiny

Reads only run folders (config.json + metrics.jsonl, see redit.runlog); a verl run written by its
`file` logger reads the same way. Writes to --out:
    figure1_grad_norm.png/.pdf   gradient norm before clipping + raw/smoothed reward per step,
                                 GRPO vs ReDit side by side, vanishing/exploding points marked
    main_table.md / .csv         final validation accuracy per method, mean +/- 95% t-CI over seeds
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

GRAD_NORM, RAW_SCORE = "actor/grad_norm", "critic/score/mean"
PAPER_VANISH, PAPER_EXPLODE = 0.01, 5.0  # the paper's Figure 1 caption thresholds


@dataclass
class Run:
    name: str
    path: Path
    config: dict
    metrics: pd.DataFrame  # index: step; columns: metric keys
    complete: bool

    @property
    def method(self) -> str:
        return self.config.get("method") or method_name(self.config)

    @property
    def seed(self):
        return self.config.get("seed")


def method_name(config: dict) -> str:
    dist = (config.get("dither") or {}).get("dist", "none")
    return "grpo" if dist == "none" else f"redit-{dist}"


def read_metrics(path: Path) -> pd.DataFrame:
    """metrics.jsonl -> wide frame indexed by step. A corrupt line (a crash mid-write) is skipped with
    a warning; when a step appears twice (a resumed run) the last occurrence wins."""
    rows = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            rows[int(record["step"])] = record["data"]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            warnings.warn(f"{path}:{lineno}: unreadable metrics line skipped")
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    frame.index.name = "step"
    return frame.astype(float)


def load_run(path: Path) -> Run:
    path = Path(path)
    config = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    return Run(path.name, path, config, read_metrics(path / "metrics.jsonl"), (path / "done.json").is_file())


def load_runs(root: Path, include_incomplete: bool = False) -> list[Run]:
    runs = []
    for metrics in sorted(Path(root).glob("**/metrics.jsonl")):
        run = load_run(metrics.parent)
        if not run.complete and not include_incomplete:
            warnings.warn(f"{run.path}: unfinished run (no done.json) left out")
            continue
        runs.append(run)
    return runs


def val_column(run: Run) -> str | None:
    cols = [c for c in run.metrics.columns if c.startswith("val-core/") and c.endswith("/acc/mean@1")]
    return cols[0] if cols else None


def final_val_acc(run: Run) -> float:
    col = val_column(run)
    if col is None:
        return math.nan
    series = run.metrics[col].dropna()
    return float(series.iloc[-1]) if len(series) else math.nan


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, int]:
    """Mean and half-width of the two-sided Student-t confidence interval (nan width for n < 2)."""
    from scipy import stats

    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(x[0]), math.nan, 1
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    return float(x.mean()), float(half), n


def gradient_events(grad_norm: pd.Series, vanish: float, explode: float) -> tuple[pd.Series, pd.Series]:
    g = grad_norm.dropna()
    return g[g < vanish], g[g > explode]


def main_table(runs: list[Run]) -> pd.DataFrame:
    """One row per (task, method): final validation accuracy mean +/- 95% CI, n seeds, per-seed values,
    and how many steps had a vanishing (< 0.01) or exploding (> 5) pre-clip gradient norm."""
    records = []
    for run in runs:
        g = run.metrics.get(GRAD_NORM, pd.Series(dtype=float))
        vanishing, exploding = gradient_events(g, PAPER_VANISH, PAPER_EXPLODE)
        records.append({"task": run.config.get("task"), "method": run.method, "seed": run.seed,
                        "final_acc": final_val_acc(run), "vanishing_steps": len(vanishing),
                        "exploding_steps": len(exploding), "steps": int(g.dropna().shape[0])})
    per_run = pd.DataFrame(records)
    rows = []
    for (task, method), group in per_run.groupby(["task", "method"], sort=True):
        mean, half, n = mean_ci(group["final_acc"])
        rows.append({"task": task, "method": method, "n_seeds": n, "final_acc_mean": mean,
                     "final_acc_ci95": half, "seeds": " ".join(str(s) for s in group["seed"]),
                     "final_acc_per_seed": " ".join(f"{a:.3f}" for a in group["final_acc"]),
                     "vanishing_steps_mean": group["vanishing_steps"].mean(),
                     "exploding_steps_mean": group["exploding_steps"].mean(), "steps": group["steps"].max()})
    return pd.DataFrame(rows)


def table_markdown(table: pd.DataFrame) -> str:
    lines = ["| task | method | final val acc (mean ± 95% CI) | n seeds | per seed | vanishing steps | exploding steps |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        ci = "n/a" if math.isnan(r.final_acc_ci95) else f"{100 * r.final_acc_ci95:.1f}"
        lines.append(f"| {r.task} | {r.method} | {100 * r.final_acc_mean:.1f} ± {ci} | {r.n_seeds} | "
                     f"{r.final_acc_per_seed} | {r.vanishing_steps_mean:.1f} | {r.exploding_steps_mean:.1f} |")
    return "\n".join(lines) + "\n"


def figure1(runs: list[Run], out: Path, vanish: float = PAPER_VANISH, explode: float = PAPER_EXPLODE,
            smooth: int = 10, title: str | None = None):
    """The paper's Figure 1 for each run given (one panel each, typically GRPO then ReDit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 4.2), squeeze=False, sharey=True)
    twins = []
    for ax, run in zip(axes[0], runs):
        m = run.metrics
        g = m[GRAD_NORM].dropna()
        ax.plot(g.index, g.values, color="tab:blue", lw=0.9, label="grad norm (before clipping)")
        vanishing, exploding = gradient_events(g, vanish, explode)
        ax.scatter(vanishing.index, vanishing.values, color="red", s=18, zorder=3,
                   label=f"vanishing (< {vanish:g}): {len(vanishing)}")
        ax.scatter(exploding.index, exploding.values, color="purple", marker="*", s=50, zorder=3,
                   label=f"exploding (> {explode:g}): {len(exploding)}")
        ax.set_xlabel("training step")
        ax.set_ylabel("gradient norm")
        twin = ax.twinx()
        twins.append(twin)
        r = m[RAW_SCORE].dropna()
        twin.plot(r.index, r.values, color="tab:orange", alpha=0.35, lw=0.8, label="reward (raw)")
        twin.plot(r.index, r.rolling(smooth, min_periods=1).mean(), color="tab:orange", lw=1.8,
                  label=f"smoothed reward ({smooth}-step mean)")
        twin.set_ylabel("raw reward (undithered)")
        acc = final_val_acc(run)
        ax.set_title(f"{run.method} (seed {run.seed})  final val acc {100 * acc:.1f}%")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        labels = ax.get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
        ax.legend(handles, labels, loc="upper left", fontsize=7)
    for twin in twins[1:]:  # one reward scale for every panel, so they compare at a glance
        twin.sharey(twins[0])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".png"), dpi=130)
    fig.savefig(out.with_suffix(".pdf"))
    plt.close(fig)
    return out.with_suffix(".png")


def pick_pair(runs: list[Run], baseline: str = "grpo", treatment: str = "redit-gaussian", seed=None):
    """The (baseline, treatment) runs of one seed: the lowest seed both methods have."""
    by_key = {(r.method, r.seed): r for r in runs}
    seeds = sorted({s for (m, s) in by_key if m == baseline} & {s for (m, s) in by_key if m == treatment})
    if not seeds:
        raise ValueError(f"no seed has both a {baseline!r} and a {treatment!r} run.")
    seed = seeds[0] if seed is None else seed
    return by_key[(baseline, seed)], by_key[(treatment, seed)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, default=Path("runs/tiny"), help="folder holding run folders")
    p.add_argument("--out", type=Path, default=Path("results/tiny"), help="where figures and tables go")
    p.add_argument("--vanish", type=float, default=PAPER_VANISH, help="vanishing threshold on the pre-clip norm")
    p.add_argument("--explode", type=float, default=PAPER_EXPLODE, help="exploding threshold on the pre-clip norm")
    p.add_argument("--treatment", default="redit-gaussian", help="method shown beside GRPO in Figure 1")
    args = p.parse_args(argv)
    runs = load_runs(args.runs)
    if not runs:
        raise SystemExit(f"error: no finished run folders under {args.runs}; run ./run_all.sh or python -m redit.train first.")
    args.out.mkdir(parents=True, exist_ok=True)
    table = main_table(runs)
    table.to_csv(args.out / "main_table.csv", index=False)
    (args.out / "main_table.md").write_text(table_markdown(table))
    print(table_markdown(table))
    try:
        pair = pick_pair(runs, treatment=args.treatment)
        png = figure1(list(pair), args.out / "figure1_grad_norm", args.vanish, args.explode)
        print(f"wrote {png}")
    except ValueError as err:
        print(f"figure 1 skipped: {err}")


if __name__ == "__main__":
    main()
