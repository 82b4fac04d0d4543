"""Run a grid of training runs in parallel, resumably, with a progress line and an ETA.

    python -m redit.sweep --runs runs/tiny --seeds 0 1 2 --steps 150 --jobs 2

Each run is `python -m redit.train ...` in its own process (1 torch thread), its output in
<run>/train.log. Finished runs (done.json) are skipped, so rerunning after Ctrl-C or a crash
continues where it stopped; an unfinished run restarts from step 0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .dither import matched_sigma
from .runlog import RunFolder

# The main comparison (paper: GRPO vs GRPO+ReDit). Noise std is matched across distributions:
# Gaussian sigma = 0.05 (the DitherConfig default) and uniform half-width a = 0.05 * sqrt(3).
MAIN_NOISE_STD = 0.05
MAIN_METHODS = {
    "grpo": ["--dist", "none"],
    "redit-gaussian": ["--dist", "gaussian", "--sigma", f"{matched_sigma('gaussian', MAIN_NOISE_STD):.6g}"],
    "redit-uniform": ["--dist", "uniform", "--sigma", f"{matched_sigma('uniform', MAIN_NOISE_STD):.6g}"],
}


@dataclass
class Job:
    name: str
    run_dir: Path
    args: list[str]
    steps: int
    proc: subprocess.Popen | None = None
    started: float = 0.0
    log: object = field(default=None, repr=False)

    def progress(self) -> int:
        step = RunFolder(self.run_dir).last_step()
        return step or 0


def main_grid(runs_root: Path, seeds, steps: int, extra: list[str]) -> list[Job]:
    jobs = []
    for seed in seeds:
        for method, method_args in MAIN_METHODS.items():
            name = f"{method}-s{seed}"
            run_dir = runs_root / name
            args = ["--run-dir", str(run_dir), "--seed", str(seed), "--steps", str(steps), *method_args, *extra]
            jobs.append(Job(name, run_dir, args, steps))
    return jobs


def _fmt(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def run_jobs(jobs: list[Job], n_parallel: int, poll: float = 10.0, python: str = sys.executable) -> int:
    """Run the unfinished jobs, n_parallel at a time; return the number that failed."""
    todo = [j for j in jobs if not RunFolder(j.run_dir).is_complete()]
    skipped = len(jobs) - len(todo)
    print(f"[sweep] {len(jobs)} runs: {skipped} already finished (skipped), {len(todo)} to run, {n_parallel} at a time", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    running, failed, done_steps, start, last_print = [], [], 0, time.time(), 0.0
    total_steps = sum(j.steps for j in todo)
    while todo or running:
        while todo and len(running) < n_parallel:
            job = todo.pop(0)
            job.run_dir.mkdir(parents=True, exist_ok=True)
            job.log = open(job.run_dir / "train.log", "w")
            job.proc = subprocess.Popen([python, "-m", "redit.train", *job.args, "--threads", "1"],
                                        stdout=job.log, stderr=subprocess.STDOUT, env=env)
            job.started = time.time()
            running.append(job)
        time.sleep(0.5)
        for job in [j for j in running if j.proc.poll() is not None]:
            running.remove(job)
            job.log.close()
            done_steps += job.steps
            if job.proc.returncode != 0:
                failed.append(job)
                tail = (job.run_dir / "train.log").read_text().strip().splitlines()[-3:]
                print(f"[sweep] FAILED {job.name} (exit {job.proc.returncode}); see {job.run_dir / 'train.log'}:", *tail, sep="\n  ", flush=True)
            else:
                print(f"[sweep] finished {job.name} in {_fmt(time.time() - job.started)}", flush=True)
        if time.time() - last_print >= poll or (not todo and not running):
            last_print = time.time()
            steps_now = done_steps + sum(j.progress() for j in running)
            elapsed = time.time() - start
            eta = elapsed / steps_now * (total_steps - steps_now) if steps_now else math.nan
            status = ", ".join(f"{j.name} {j.progress()}/{j.steps}" for j in running) or "-"
            print(f"[sweep] {steps_now}/{total_steps} steps ({100 * steps_now / max(total_steps, 1):.0f}%) "
                  f"elapsed {_fmt(elapsed)} ETA {_fmt(eta)} | running: {status}", flush=True)
    print(f"[sweep] done in {_fmt(time.time() - start)}; {len(failed)} failed", flush=True)
    return len(failed)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, default=Path("runs/tiny"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--jobs", type=int, default=max(1, os.cpu_count() or 1), help="runs in parallel (default: CPU count)")
    p.add_argument("--train-args", default="", help="extra arguments passed to every `redit.train` (quoted string)")
    args = p.parse_args(argv)
    jobs = main_grid(args.runs, args.seeds, args.steps, args.train_args.split())
    (args.runs).mkdir(parents=True, exist_ok=True)
    (args.runs / "sweep.json").write_text(json.dumps({"jobs": [j.name for j in jobs], "args": vars(args)}, default=str, indent=2) + "\n")
    return 1 if run_jobs(jobs, args.jobs) else 0


if __name__ == "__main__":
    sys.exit(main())
