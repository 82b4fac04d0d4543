"""The run folder and metrics schema shared by every backend (TRL here, verl's `file` logger too).

A run folder `runs/<scale>/<run-name>/` holds:

    config.json     the resolved configuration, `run_config(...)`: backend, task, algorithm, seed,
                    steps, dither{...}, method, adaptive_sigma, model{path}, versions, git,
                    experiment and variant (the run's names in redit/registry.py; the analysis
                    groups runs by them), and the backend's own settings nested under its name
                    ("verl": {...}); written before step 1 (again when a run resumes)
    metrics.jsonl   one JSON object per line in verl's file-logger shape
                    {"step": N, "data": {"<key>": <float>, ...}}; step 0 holds the validation done
                    before training; written and flushed line by line
    done.json       written last, only when every step finished (its absence = incomplete run)

The metric keys every backend writes (`SCHEMA`; analysis relies on these names):
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING
import platform
import subprocess
from importlib import metadata
from pathlib import Path

if TYPE_CHECKING:
    from .dither import DitherConfig

SCHEMA = {
    "actor/grad_norm": "policy gradient norm BEFORE clipping (what clip_grad_norm_ returns)",
    "actor/pg_loss": "policy-gradient loss as the backend logs it",
    "actor/lr": "learning rate at this step",
    "critic/score/mean": "mean RAW (undithered) reward of the step's samples; = training accuracy for 0/1 rewards",
    "redit/dithered_score/mean": "mean reward after dithering, i.e. what the advantage estimator saw",
    "redit/sigma": "noise parameter sigma at this step (after the schedule); 0 for plain GRPO",
    "redit/zero_std_group_frac/raw": "fraction of prompt groups whose RAW rewards are all equal (no GRPO signal)",
    "redit/zero_std_group_frac/dithered": "same fraction after dithering (0 whenever sigma > 0)",
    "response_length/mean": "mean completion length in tokens",
    "timing_s/step": "wall-clock seconds of the step (the only non-deterministic key; --no-timing drops it)",
    "val-core/<task>/acc/mean@1": "greedy accuracy on the held-out test split; never dithered; every K steps and at the end",
}
__doc__ += "\n".join(f"    {k:38s} {v}" for k, v in SCHEMA.items())

REQUIRED_TRAIN_KEYS = [k for k in SCHEMA if not k.startswith("val-core")]


def method_name(algorithm: str = "grpo", dist: str = "none") -> str:
    """A run's method label: grpo | redit-<dist> (GRPO + ReDit) | <algorithm> | <algorithm>+redit-<dist>."""
    if dist == "none":
        return algorithm
    return f"redit-{dist}" if algorithm == "grpo" else f"{algorithm}+redit-{dist}"


def run_config(*, backend: str, task: str | None, algorithm: str, seed: int, steps: int | None,
               dither: "DitherConfig", adaptive: dict | None = None, model: dict | None = None,
               experiment: str | None = None, variant: str | None = None, extras: dict | None = None,
               repo: Path | None = None) -> dict:
    """config.json of a run, the same keys on every backend (what the analysis reads); `extras` (the
    backend's own settings) go under the key `backend`, `experiment` and `variant` (registry names) only
    when given.

        >>> from redit.dither import DitherConfig
        >>> run_config(backend="verl", task="gsm8k", algorithm="grpo", seed=0, steps=10,
        ...            dither=DitherConfig(dist="gaussian", sigma=0.05))["method"]
        'redit-gaussian'
    """
    from . import REPO_ROOT

    config = {
        "backend": backend, "task": task, "algorithm": algorithm, "seed": int(seed),
        "steps": int(steps) if steps else None, "dither": dither.to_dict(),
        "method": method_name(algorithm, dither.dist if dither.enabled or adaptive else "none"),
        "adaptive_sigma": adaptive, "model": dict(model or {}),
        "versions": library_versions(), "git": git_commit(repo or REPO_ROOT),
    }
    if experiment:
        config["experiment"] = experiment
    if variant:
        config["variant"] = variant
    if extras is not None:
        config[backend] = extras
    return config


def val_key(task: str) -> str:
    return f"val-core/{task}/acc/mean@1"


def git_commit(repo: Path) -> dict:
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)

    try:
        sha = git("rev-parse", "HEAD").stdout.strip() or None
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").stdout.strip()) if sha else None
    except (OSError, subprocess.TimeoutExpired):
        sha, dirty = None, None
    return {"sha": sha, "dirty": dirty}


def library_versions(names=("torch", "transformers", "trl", "accelerate", "verl", "numpy")) -> dict:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


class RunFolderBusy(RuntimeError):
    """Another process writes this run folder (one line naming the folder and the fix)."""


class RunFolder:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.config_path = self.path / "config.json"
        self.metrics_path = self.path / "metrics.jsonl"
        self.done_path = self.path / "done.json"
        self._metrics_file = None
        self._lock_file = None

    def lock(self) -> None:
        """Become the folder's one writer: an exclusive lock on <run>/.writer.lock, held until this
        process exits (the kernel drops it even after kill -9). A second writer gets RunFolderBusy
        before it touches anything."""
        import fcntl

        if self._lock_file is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / ".writer.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunFolderBusy(f"another process is writing {self.path}; wait for it to finish, or use another --run-dir.") from None
        self._lock_file = handle

    def is_complete(self) -> bool:
        return self.done_path.is_file() and self.config_path.is_file() and self.metrics_path.is_file()

    def last_step(self) -> int | None:
        """Last step fully written to metrics.jsonl (None if nothing is)."""
        if not self.metrics_path.is_file():
            return None
        last = None
        for line in self.metrics_path.read_text().splitlines():
            try:
                last = json.loads(line)["step"]
            except (json.JSONDecodeError, KeyError, TypeError):
                break
        return last

    def write_config(self, config: dict) -> None:
        """Write config.json and clear done.json (the run is under way); metrics.jsonl is untouched
        (verl's `file` logger writes it)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.done_path.unlink(missing_ok=True)
        self.config_path.write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")

    def keep_metrics_through(self, step: int) -> int:
        """Resume support: drop metrics.jsonl lines after `step` (they are recomputed from the
        checkpoint) and any torn last line; returns the lines kept."""
        if not self.metrics_path.is_file():
            return 0
        kept = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):
                break
        tmp = self.metrics_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        tmp.replace(self.metrics_path)
        return len(kept)

    def start(self, config: dict) -> None:
        """Begin (or restart) the run: write config.json, truncate metrics.jsonl, clear done.json."""
        self.lock()
        self.write_config(config)
        self._metrics_file = open(self.metrics_path, "wb", buffering=0)

    def resume(self, step: int) -> None:
        """Continue an unfinished run from a checkpoint at `step`: config.json stays, metrics.jsonl keeps
        its lines through `step` and is appended to."""
        self.lock()
        self.done_path.unlink(missing_ok=True)
        self.keep_metrics_through(step)
        self._metrics_file = open(self.metrics_path, "ab", buffering=0)

    def log(self, step: int, data: dict) -> None:
        """Append one metrics line, whole or not at all: when the disk is full (or a size limit is
        hit) the partial line is cut off again and the OSError propagates, so every line stays
        readable and a rerun restarts cleanly once there is space."""
        clean = {k: (float(v) if v is not None and math.isfinite(float(v)) else None) for k, v in data.items()}
        line = (json.dumps({"step": int(step), "data": clean}) + "\n").encode()
        f = self._metrics_file
        start = f.tell()
        try:
            written = 0
            while written < len(line):
                written += f.write(line[written:])
        except OSError:
            try:
                f.truncate(start)
                f.seek(start)
            except OSError:
                pass
            raise

    def finish(self, summary: dict) -> None:
        """Write done.json (last: its presence marks a complete run)."""
        if self._metrics_file is not None:
            self._metrics_file.close()
        self.done_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
