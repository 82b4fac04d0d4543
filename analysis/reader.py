"""Run folders of either backend -> Run objects, a per-run summary and a tidy long frame.

A run folder holds config.json, metrics.jsonl ({"step": N, "data": {...}} per line, the shape of
verl's `file` logger; or metrics.jsonl.gz, the compact copy `python -m analysis --export-runs` writes)
and, once finished, done.json (see redit.runlog). A run's identity is its config.json's `experiment` and
`variant` (names in redit/registry.py), never its folder; a folder without them is experiment
"unlabelled" (scripts/label_runs.py labels old runs). The reader tolerates what
real runs leave behind: a truncated or corrupt line (skipped, with a warning naming file:line), a
step logged twice after a resume (the last copy wins) and keys a backend never logged (empty cells).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from redit import REPO_ROOT, registry, runlog
from redit.dither import noise_std

GRAD_NORM, RAW_SCORE = "actor/grad_norm", "critic/score/mean"
SIGMA, ZERO_STD_RAW, ZERO_STD_DITHERED = "redit/sigma", "redit/zero_std_group_frac/raw", "redit/zero_std_group_frac/dithered"
ZERO_STD_ALL_CORRECT, ZERO_STD_ALL_WRONG = ZERO_STD_RAW + "_all_correct", ZERO_STD_RAW + "_all_wrong"  # sum = raw
PAPER_VANISH, PAPER_EXPLODE = 0.01, 5.0  # the paper's Figure 1 caption: norm < 0.01 / > 5
# Scale-aware thresholds (the paper's absolute ones mean little for a sub-million-parameter policy): a step
# vanishes when its pre-clip norm is exactly zero (every group saturated: no signal at all) and
# explodes when it exceeds EXPLODE_MEDIAN_MULTIPLE x the run's median norm.
EXPLODE_MEDIAN_MULTIPLE = 10.0
METRICS_FILES = ("metrics.jsonl", "metrics.jsonl.gz")  # the compact committed copy is gzipped
UNLABELLED = "unlabelled"  # the experiment of a run whose config.json names none (written before runs carried it)
LABEL_HINT = "label them with: python scripts/label_runs.py --runs {root}"

# Training knobs that define a run's *setting*: two runs with equal settings differ only in their
# dithering (dist, sigma, schedule, scope, adaptive σ) and seed, so one is the other's baseline. Every
# task_config.* key (task difficulty) counts too. Absent keys compare as None.
SETTING_KEYS = ("backend", "task", "algorithm", "steps", "prompts_per_step", "num_generations", "temperature",
                "lr", "max_grad_norm", "max_new_tokens", "reward", "model.path")

# Columns every run contributes to summaries and the tidy frame, whichever backend wrote it.
CONFIG_COLUMNS = ["run", "experiment", "variant", "backend", "task", "algorithm", "method", "seed",
                  "dist", "sigma", "noise_std", "schedule", "sigma_end", "steps", "model", "git_sha", "scope", "adaptive"]


def default_runs_root() -> Path:
    """The repository's runs, wherever Python was started: runs/tiny (what ./run_all.sh writes) if
    present, else the committed compact copy results/tiny/runs."""
    live = REPO_ROOT / "runs" / "tiny"
    return live if live.is_dir() else REPO_ROOT / "results" / "tiny" / "runs"


def notebook_runs(env: str = "REDIT_RUNS") -> tuple[Path, list["Run"]]:
    """(folder, finished runs) for a notebook, wherever Jupyter was started: the folder $REDIT_RUNS names
    (e.g. a verl RUN_DIR), else default_runs_root(); prints how many runs and from where."""
    root = Path(os.environ[env]) if os.environ.get(env) else default_runs_root()
    runs = load_runs(root)
    print(f"{len(runs)} runs from {root}")
    return root, runs


@dataclass
class Run:
    name: str
    path: Path
    config: dict
    metrics: pd.DataFrame  # index: step; columns: metric keys
    complete: bool
    experiment: str = UNLABELLED
    variant: str | None = None

    @property
    def registry_variant(self) -> registry.Variant | None:
        """The run's variant in redit/registry.py (None: unlabelled, or a name the registry does not know)."""
        try:
            return registry.variant(self.experiment, self.variant) if self.variant else None
        except ValueError:
            return None

    @property
    def level(self) -> str | None:
        """The registry name of the run's task difficulty (`hard`, ...); None when its variant has none."""
        found = self.registry_variant
        return found.level if found else None

    @property
    def level_label(self) -> str | None:
        """The variant name up to its level: `hard` (regime, remedies), `wide-hard` (size: the policy too)."""
        level = self.level
        return self.variant[:self.variant.index(level) + len(level)] if level else None

    @property
    def arm(self) -> str | None:
        """The registry arm: the variant name after its level (`hard-redit-zero_var` -> `redit-zero_var`)."""
        found = self.registry_variant
        return registry.arm(self.variant, found) if found else None

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
        parts = dither.get("reward_parts", 1)  # noise drawn per reward part (--noise-on parts): std grows as sqrt(parts)
        parts = parts if isinstance(parts, int) and not isinstance(parts, bool) and parts >= 1 else 1
        info = {"run": self.name, "experiment": self.experiment, "variant": self.variant, "backend": self.config.get("backend"),
                "task": self.task, "algorithm": self.config.get("algorithm", "grpo"), "method": self.method,
                "seed": self.seed, "dist": dither.get("dist", "none"), "sigma": float(dither.get("sigma", 0.0) or 0.0),
                "noise_std": noise_std(dither.get("dist", "none"), float(dither.get("sigma", 0.0) or 0.0), parts),
                "schedule": dither.get("schedule", "constant"),
                "sigma_end": dither.get("sigma_end") if dither.get("schedule", "constant") != "constant" else None,
                "steps": self.config.get("steps"), "model": (self.config.get("model") or {}).get("path"),
                "git_sha": (self.config.get("git") or {}).get("sha"),
                "scope": dither.get("scope", "all"),  # runs from before scopes existed dithered every group
                "adaptive": (self.config.get("adaptive_sigma") or {}).get("target", "none")}
        info.update({k: v for k, v in dither.items() if k not in info and k not in ("seed", "total_steps")})
        return info

    @property
    def setting(self) -> dict:
        """The training knobs (SETTING_KEYS plus task_config.*) that make two runs comparable."""
        flat = {key: _lookup(self.config, key) for key in SETTING_KEYS}
        flat["task"] = self.task
        flat["algorithm"] = self.config.get("algorithm", "grpo")
        flat.update({f"task_config.{k}": _hashable(v) for k, v in sorted((self.config.get("task_config") or {}).items())})
        return flat

    @property
    def setting_key(self) -> tuple:
        return tuple(sorted(self.setting.items()))


def _lookup(config: dict, dotted: str):
    value = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return _hashable(value)


def _hashable(value):
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def method_name(config: dict) -> str:
    """The method label of a run's config (redit.runlog.method_name)."""
    return runlog.method_name(config.get("algorithm", "grpo"), (config.get("dither") or {}).get("dist", "none"))


def read_metrics(path: Path) -> pd.DataFrame:
    """metrics.jsonl (or .jsonl.gz) -> wide float frame indexed by step (null values -> NaN)."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path} cannot be read ({type(err).__name__}: a corrupt or truncated file); "
                         "replace it or move that run folder out of --runs.") from None
    text = raw.decode("utf-8", errors="replace")  # a binary-garbage line becomes an unreadable line, skipped below
    rows = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record["data"], dict):
                raise TypeError("data is not a mapping")
            rows[int(record["step"])] = record["data"]  # a resumed run re-logs steps: keep the last copy
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, OverflowError):
            warnings.warn(f"{path}:{lineno}: unreadable metrics line skipped (truncated or corrupt)", stacklevel=2)
    frame = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    frame.index.name = "step"
    return frame.apply(pd.to_numeric, errors="coerce").astype(float)


def load_run(path: Path, identity: tuple[str, str | None] | None = None) -> Run:
    """One run folder; its (experiment, variant) from config.json unless `identity` gives them (a
    sweep link's own, see load_runs)."""
    path = Path(path)
    try:
        config = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path / 'config.json'} is not readable JSON ({type(err).__name__}); repair it or move that run "
                         "folder out of --runs.") from None
    bad = ("" if isinstance(config, dict) else "is not a JSON object") or next(
        (f"has {key!r} that is not a JSON object" for key in ("dither", "model", "task_config", "git", "adaptive_sigma")
         if config.get(key) is not None and not isinstance(config[key], dict)), "")
    if bad:
        raise ValueError(f"{path / 'config.json'} {bad}; repair it or move that run folder out of --runs.")
    metrics = read_metrics(metrics_file(path))
    experiment, variant = identity or (config.get("experiment") or UNLABELLED, config.get("variant"))
    return Run(path.name, path, config, metrics, (path / "done.json").is_file(), experiment, variant)


def metrics_file(run_dir: Path) -> Path:
    """The run's metrics.jsonl, else its compact metrics.jsonl.gz."""
    for name in METRICS_FILES:
        if (Path(run_dir) / name).is_file():
            return Path(run_dir) / name
    return Path(run_dir) / METRICS_FILES[0]


def load_runs(root: Path, include_incomplete: bool = False) -> list[Run]:
    """Every run folder under root (any depth), labelled by its config.json's experiment and variant
    (UNLABELLED without them, with one warning naming the fix). A run folder reached through a link (the
    sweep's "same run as" another experiment's) is the link's: <experiment>/<variant>-s<seed>, as the
    sweep names it; one config.json cannot name every experiment that shares the run."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no run folder {root}; run ./run_all.sh (or python -m redit.train) first, or pass --runs.")
    if set(METRICS_FILES) & {p.name for p in root.iterdir()}:
        raise ValueError(f"--runs {root} is a single run folder; pass the folder that contains run folders "
                         f"(e.g. --runs {root.parent}).")
    runs = []
    # os.walk follows symlinked run folders (the sweep links a run shared by two experiments), glob does not
    found = []
    for d, subdirs, files in os.walk(root, followlinks=True):
        here = os.path.realpath(d)
        # a link back to a folder above it would be walked again and again: follow links to other places only
        subdirs[:] = [s for s in subdirs if not (os.path.islink(os.path.join(d, s))
                                                 and (here + os.sep).startswith(os.path.realpath(os.path.join(d, s)) + os.sep))]
        if set(METRICS_FILES) & set(files):
            found.append(Path(d))
    unlabelled = []
    for run_dir in sorted(found):
        run = load_run(run_dir, _link_identity(root, run_dir))
        if not run.complete and not include_incomplete:
            warnings.warn(f"{run.path}: unfinished run (no done.json) left out", stacklevel=2)
            continue
        if run.experiment == UNLABELLED:
            unlabelled.append(run)
        runs.append(run)
    if unlabelled:
        warnings.warn(f"{len(unlabelled)} run folders (e.g. {unlabelled[0].path}) name no experiment/variant in config.json "
                      f"and are grouped as {UNLABELLED!r}; " + LABEL_HINT.format(root=root), stacklevel=2)
    return runs


def _link_identity(root: Path, run_dir: Path) -> tuple[str, str] | None:
    """(experiment, variant) of a run folder reached through a link at <experiment>/<variant>-s<seed>
    (how the sweep links a run shared by two experiments); None for a real folder, or a link directly in
    root (its config.json says what it is)."""
    experiment = run_dir.parent.relative_to(root).as_posix()
    if experiment == "." or os.path.realpath(run_dir) == os.path.join(os.path.realpath(root), run_dir.relative_to(root)):
        return None
    return experiment, run_dir.name.rsplit("-s", 1)[0]


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


def primary_outcome(run: Run) -> float:
    """On-policy raw accuracy over the second half of training: mean of critic/score/mean over the
    steps > steps / 2 (steps = the configured length, else the last logged step)."""
    score = metric(run, RAW_SCORE)
    if score.empty:
        return math.nan
    steps = run.config.get("steps") or int(score.index.max())
    late = score[score.index > steps / 2]
    return float(late.mean()) if len(late) else math.nan


def secondary_outcome(run: Run, last: int = 3) -> float:
    """Held-out accuracy: the mean of the run's last `last` validation evaluations."""
    curve = val_curve(run)
    return float(curve.iloc[-last:].mean()) if len(curve) else math.nan


def scale_aware_events(grad_norm: pd.Series, multiple: float = EXPLODE_MEDIAN_MULTIPLE):
    """(exactly-zero steps, steps above `multiple` x the run's median norm)."""
    g = grad_norm.dropna()
    return g[g == 0.0], g[g > multiple * g.median()] if len(g) else g


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
        knobs = {k: v for k, v in run.setting.items() if k not in ("backend", "task", "algorithm", "steps", "model.path")}
        rows.append({**run.info, **knobs, "path": str(run.path), "complete": run.complete, "final_acc": final_val_acc(run),
                     "train_steps": len(g), "vanishing_steps": len(vanishing) if len(g) else math.nan,
                     "exploding_steps": len(exploding) if len(g) else math.nan,
                     "zero_grad_steps": len(scale_aware_events(g)[0]) if len(g) else math.nan,
                     "zero_grad_frac": len(scale_aware_events(g)[0]) / len(g) if len(g) else math.nan,
                     "exploding_scaled_steps": len(scale_aware_events(g)[1]) if len(g) else math.nan,
                     "zero_std_frac_raw": metric(run, ZERO_STD_RAW).mean(),
                     "zero_std_frac_all_correct": metric(run, ZERO_STD_ALL_CORRECT).mean(),
                     "zero_std_frac_all_wrong": metric(run, ZERO_STD_ALL_WRONG).mean(),
                     "primary": primary_outcome(run), "secondary": secondary_outcome(run),
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


def _plain(run: Run) -> bool:
    """Noise (if any) on every group at a constant σ: the arm Figure 1 compares."""
    return run.info["scope"] == "all" and run.info["adaptive"] == "none" and run.info["schedule"] == "constant"


def _level_knobs(runs: list[Run]) -> list[str]:
    keys = sorted({k for r in runs for k in r.setting})
    return [k for k in keys if len({str(r.setting.get(k)) for r in runs}) > 1]


def level_name(run: Run, knobs: list[str]) -> str:
    """The run's level: its registry name (`hard`), else the knobs that vary among its experiment's runs,
    e.g. "max_number=20, min_ops=2"; "one level" when nothing varies."""
    from .tables import readable

    return run.level_label or ", ".join(f"{k.split('.')[-1]}={readable(run.setting.get(k))}" for k in knobs) or "one level"


def _check_methods(runs: list[Run], *names: str) -> None:
    methods = sorted({r.method for r in runs})
    for name in names:
        if name not in methods:
            raise ValueError(f"{name!r} is not a method of these runs; choose from: {', '.join(methods) or '(no runs)'} "
                             "(a regime level is not a method: pass level=..., see event_pairs(runs)).")


def pick_pair(runs: list[Run], baseline: str = "grpo", treatment: str = "redit-gaussian", seed=None, task=None, level=None):
    """The (baseline, treatment) runs of one seed and one setting (default: the lowest seed both methods
    have, in the first level that has it); only plain arms (noise on every group at a constant σ) are
    candidates, so a scope or schedule arm of the same method is never picked, and both runs share
    their setting (a regime level: level="hard", as event_pairs names it). A baseline or
    treatment that is not a method of these runs is a ValueError naming the methods there are."""
    _check_methods(runs, baseline, treatment)
    knobs = _level_knobs(runs)
    plain = [r for r in runs if _plain(r) and (task is None or r.task == task)
             and (level is None or level_name(r, knobs) == level)]
    if level is not None and not plain:
        levels = sorted({level_name(r, knobs) for r in runs})
        raise ValueError(f"no level {level!r} in these runs; choose from: {'; '.join(levels)}.")
    by_key = {}
    for r in sorted(plain, key=lambda r: str(r.path)):
        by_key.setdefault((r.method, str(r.seed), r.setting_key), r)
    both = sorted({(s, k) for (m, s, k) in by_key if m == baseline} & {(s, k) for (m, s, k) in by_key if m == treatment},
                  key=lambda sk: (int(sk[0]) if sk[0].isdigit() else sk[0], str(sk[1])))
    if seed is not None:
        both = [(s, k) for s, k in both if s == str(seed)]
    if not both:
        raise ValueError(f"no seed has both a {baseline!r} and a {treatment!r} run" + ("" if seed is None else f" at seed {seed}")
                         + " of one setting (plain arms: scope all, constant σ).")
    s, k = both[0]
    return by_key[(baseline, s, k)], by_key[(treatment, s, k)]


def event_pairs(runs: list[Run], baseline: str = "grpo", treatment: str = "redit-gaussian", vanish: float = PAPER_VANISH,
                explode: float = PAPER_EXPLODE) -> pd.DataFrame:
    """Every (baseline, treatment) pair of plain arms with the same experiment, setting (level) and seed,
    ranked by its gradient events, most first: vanishing (< vanish, exact zeros included), exploding
    (> explode) and exactly-zero steps, counted over both runs of the pair. Columns: experiment, level,
    seed, baseline, treatment (run names), vanishing, exploding, exactly_zero, events (= vanishing +
    exploding), pair ((baseline Run, treatment Run), for figure1). Which experiment and pair to look at
    when a default pair shows no events at all."""
    columns = ["experiment", "level", "seed", "baseline", "treatment", "vanishing", "exploding", "exactly_zero", "events", "pair"]
    rows = []
    for experiment in sorted({r.experiment for r in runs}):
        members = [r for r in runs if r.experiment == experiment]
        knobs = _level_knobs(members)
        for level in sorted({level_name(r, knobs) for r in members}):
            here = [r for r in members if level_name(r, knobs) == level]
            methods = {r.method for r in here}
            if baseline not in methods or treatment not in methods:
                continue
            seeds = sorted({str(r.seed) for r in here}, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
            for seed in seeds:
                try:
                    pair = pick_pair(here, baseline, treatment, seed=seed)
                except ValueError:
                    continue
                counts = {"vanishing": 0, "exploding": 0, "exactly_zero": 0}
                for run in pair:
                    g = metric(run, GRAD_NORM)
                    low, high = gradient_events(g, vanish, explode)
                    counts["vanishing"] += len(low)
                    counts["exploding"] += len(high)
                    counts["exactly_zero"] += int((g == 0).sum())
                rows.append({"experiment": experiment, "level": level, "seed": pair[0].seed, "baseline": pair[0].name,
                             "treatment": pair[1].name, **counts, "events": counts["vanishing"] + counts["exploding"], "pair": pair})
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["events", "exactly_zero"], ascending=False, kind="stable").reset_index(drop=True)


BATCH_KEYS = [RAW_SCORE, "redit/dithered_score/mean", ZERO_STD_RAW, ZERO_STD_DITHERED, SIGMA, "response_length/mean"]


def gradient_event_table(run: Run, vanish: float = PAPER_VANISH, explode: float = PAPER_EXPLODE) -> pd.DataFrame:
    """The steps whose pre-clip gradient norm vanished or exploded, with what that step's batch looked
    like (raw and dithered reward, zero-variance group fraction, sigma, response length)."""
    vanishing, exploding = gradient_events(metric(run, GRAD_NORM), vanish, explode)
    events = pd.concat([pd.DataFrame({"event": "vanishing", GRAD_NORM: vanishing}),
                        pd.DataFrame({"event": "exploding", GRAD_NORM: exploding})]).sort_index()
    columns = [k for k in BATCH_KEYS if k in run.metrics]
    return events.join(run.metrics[columns]) if len(events) else events.reindex(columns=["event", GRAD_NORM, *columns])
