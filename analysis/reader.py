"""Run folders of either backend -> Run objects, a per-run summary and a tidy long frame.

A run folder holds config.json, metrics.jsonl ({"step": N, "data": {...}} per line, the shape of
verl's `file` logger) and, once finished, done.json (see redit.runlog). The reader tolerates what
real runs leave behind: a truncated or corrupt line (skipped, with a warning naming file:line), a
step logged twice after a resume (the last copy wins) and keys a backend never logged (empty cells).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from redit import runlog

GRAD_NORM, RAW_SCORE = "actor/grad_norm", "critic/score/mean"
SIGMA, ZERO_STD_RAW, ZERO_STD_DITHERED = "redit/sigma", "redit/zero_std_group_frac/raw", "redit/zero_std_group_frac/dithered"
PAPER_VANISH, PAPER_EXPLODE = 0.01, 5.0  # the paper's Figure 1 caption: norm < 0.01 / > 5

# Columns every run contributes to summaries and the tidy frame, whichever backend wrote it.
CONFIG_COLUMNS = ["run", "experiment", "backend", "task", "algorithm", "method", "seed",
                  "dist", "sigma", "schedule", "sigma_end", "steps", "model", "git_sha", "scope", "adaptive"]


@dataclass
class Run:
    name: str
    path: Path
    config: dict
    metrics: pd.DataFrame  # index: step; columns: metric keys
    complete: bool
    experiment: str = "main"

    @property
    def method(self) -> str:
        return method_name(self.config)

    @property
    def seed(self):
        return self.config.get("seed")

    @property
    def task(self) -> str | None:
        if self.config.get("task"):
            return self.config["task"]
        col = val_column(self)  # verl configs without a readable train file: the task from the val key
        if col is None:
            return None
        from redit.tasks import DATA_SOURCE_TO_TASK

        source = col[len("val-core/"):-len("/acc/mean@1")]
        return DATA_SOURCE_TO_TASK.get(source, source)

    @property
    def info(self) -> dict:
        """The run's config columns (CONFIG_COLUMNS plus any other dithering key, e.g. a scope)."""
        dither = self.config.get("dither") or {}
        info = {"run": self.name, "experiment": self.experiment, "backend": self.config.get("backend"),
                "task": self.task, "algorithm": self.config.get("algorithm", "grpo"), "method": self.method,
                "seed": self.seed, "dist": dither.get("dist", "none"), "sigma": float(dither.get("sigma", 0.0) or 0.0),
                "schedule": dither.get("schedule", "constant"),
                "sigma_end": dither.get("sigma_end") if dither.get("schedule", "constant") != "constant" else None,
                "steps": self.config.get("steps"), "model": (self.config.get("model") or {}).get("path"),
                "git_sha": (self.config.get("git") or {}).get("sha"),
                "scope": dither.get("scope", "all"),  # runs from before scopes existed dithered every group
                "adaptive": (self.config.get("adaptive_sigma") or {}).get("target", "none")}
        info.update({k: v for k, v in dither.items() if k not in info and k not in ("seed", "total_steps")})
        return info


def method_name(config: dict) -> str:
    """The method label of a run's config (redit.runlog.method_name)."""
    return runlog.method_name(config.get("algorithm", "grpo"), (config.get("dither") or {}).get("dist", "none"))


def read_metrics(path: Path) -> pd.DataFrame:
    """metrics.jsonl -> wide float frame indexed by step (null values -> NaN)."""
    rows = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            rows[int(record["step"])] = record["data"]  # a resumed run re-logs steps: keep the last copy
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            warnings.warn(f"{path}:{lineno}: unreadable metrics line skipped (truncated or corrupt)", stacklevel=2)
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    frame.index.name = "step"
    return frame.apply(pd.to_numeric, errors="coerce").astype(float)


def load_run(path: Path, experiment: str = "main") -> Run:
    path = Path(path)
    config = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    metrics = read_metrics(path / "metrics.jsonl")
    return Run(path.name, path, config, metrics, (path / "done.json").is_file(), config.get("experiment") or experiment)


def load_runs(root: Path, include_incomplete: bool = False) -> list[Run]:
    """Every run folder under root (any depth). A run's experiment is config["experiment"], else the
    folder it sits in relative to root (runs directly under root are the "main" experiment)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no run folder {root}; run ./run_all.sh (or python -m redit.train) first, or pass --runs.")
    runs = []
    # os.walk follows symlinked run folders (the sweep links a run shared by two experiments), glob does not
    found = [Path(d) / "metrics.jsonl" for d, _, files in os.walk(root, followlinks=True) if "metrics.jsonl" in files]
    for metrics in sorted(found):
        relative = metrics.parent.parent.relative_to(root).as_posix()
        run = load_run(metrics.parent, experiment="main" if relative == "." else relative)
        if not run.complete and not include_incomplete:
            warnings.warn(f"{run.path}: unfinished run (no done.json) left out", stacklevel=2)
            continue
        runs.append(run)
    return runs


def val_column(run: Run) -> str | None:
    cols = [c for c in run.metrics.columns if c.startswith("val-core/") and c.endswith("/acc/mean@1")]
    return cols[0] if cols else None


def val_curve(run: Run) -> pd.Series:
    """Validation accuracy per evaluated step (empty when the run logged none)."""
    col = val_column(run)
    return run.metrics[col].dropna() if col else pd.Series(dtype=float)


def final_val_acc(run: Run) -> float:
    curve = val_curve(run)
    return float(curve.iloc[-1]) if len(curve) else math.nan


def metric(run: Run, key: str) -> pd.Series:
    return run.metrics[key].dropna() if key in run.metrics else pd.Series(dtype=float)


def gradient_events(grad_norm: pd.Series, vanish: float = PAPER_VANISH, explode: float = PAPER_EXPLODE):
    g = grad_norm.dropna()
    return g[g < vanish], g[g > explode]


def run_summaries(runs: list[Run], vanish: float = PAPER_VANISH, explode: float = PAPER_EXPLODE) -> pd.DataFrame:
    """One row per run: its config columns, final validation accuracy, gradient-event counts and the
    schema keys it lacks (`missing`), so every table cell traces back to run folders."""
    rows = []
    for run in runs:
        g = metric(run, GRAD_NORM)
        vanishing, exploding = gradient_events(g, vanish, explode)
        missing = [k for k, present in (("val acc", val_column(run)), (GRAD_NORM, GRAD_NORM in run.metrics),
                                        (RAW_SCORE, RAW_SCORE in run.metrics)) if not present]
        rows.append({**run.info, "path": str(run.path), "complete": run.complete, "final_acc": final_val_acc(run),
                     "train_steps": len(g), "vanishing_steps": len(vanishing) if len(g) else math.nan,
                     "exploding_steps": len(exploding) if len(g) else math.nan,
                     "zero_std_frac_raw": metric(run, ZERO_STD_RAW).mean(),
                     "missing": ", ".join(missing)})
    return pd.DataFrame(rows)


def tidy(runs: list[Run]) -> pd.DataFrame:
    """One row per run x step x metric (value not null) with the run's config columns. String
    columns are categoricals, so 100 runs x 1000 steps x 40 keys stays in a few hundred MB."""
    if not runs:
        return pd.DataFrame(columns=[*CONFIG_COLUMNS, "step", "metric", "value"])
    vocabulary: dict[str, int] = {}
    steps, codes, values, run_index = [], [], [], []
    for i, run in enumerate(runs):
        m = run.metrics
        flat = m.to_numpy().ravel()  # row-major: step-major, metric-minor
        keep = ~np.isnan(flat)
        column_codes = np.array([vocabulary.setdefault(str(c), len(vocabulary)) for c in m.columns], dtype=np.int32)
        steps.append(np.repeat(m.index.to_numpy(), m.shape[1])[keep])
        codes.append(np.tile(column_codes, m.shape[0])[keep])
        values.append(flat[keep])
        run_index.append(np.full(int(keep.sum()), i))
    run_index = np.concatenate(run_index)
    frame = pd.DataFrame({"step": np.concatenate(steps).astype(int),
                          "metric": pd.Categorical.from_codes(np.concatenate(codes), categories=list(vocabulary)),
                          "value": np.concatenate(values)})
    info = pd.DataFrame([run.info for run in runs])
    for col in info.columns[::-1]:
        column = info[col]
        if not pd.api.types.is_numeric_dtype(column):
            cat = column.astype("category")
            values = pd.Categorical.from_codes(cat.cat.codes.to_numpy()[run_index], cat.cat.categories)
        else:
            values = column.to_numpy()[run_index]
        frame.insert(0, col, values)
    return frame


def pick_pair(runs: list[Run], baseline: str = "grpo", treatment: str = "redit-gaussian", seed=None, task=None):
    """The (baseline, treatment) runs of one seed (default: the lowest seed both methods have)."""
    by_key = {(r.method, r.seed): r for r in runs if task is None or r.task == task}
    seeds = sorted({s for (m, s) in by_key if m == baseline} & {s for (m, s) in by_key if m == treatment})
    if not seeds:
        raise ValueError(f"no seed has both a {baseline!r} and a {treatment!r} run.")
    seed = seeds[0] if seed is None else seed
    return by_key[(baseline, seed)], by_key[(treatment, seed)]


BATCH_KEYS = [RAW_SCORE, "redit/dithered_score/mean", ZERO_STD_RAW, ZERO_STD_DITHERED, SIGMA, "response_length/mean"]


def gradient_event_table(run: Run, vanish: float = PAPER_VANISH, explode: float = PAPER_EXPLODE) -> pd.DataFrame:
    """The steps whose pre-clip gradient norm vanished or exploded, with what that step's batch looked
    like (raw and dithered reward, zero-variance group fraction, sigma, response length)."""
    vanishing, exploding = gradient_events(metric(run, GRAD_NORM), vanish, explode)
    events = pd.concat([pd.DataFrame({"event": "vanishing", GRAD_NORM: vanishing}),
                        pd.DataFrame({"event": "exploding", GRAD_NORM: exploding})]).sort_index()
    columns = [k for k in BATCH_KEYS if k in run.metrics]
    return events.join(run.metrics[columns]) if len(events) else events.reindex(columns=["event", GRAD_NORM, *columns])
