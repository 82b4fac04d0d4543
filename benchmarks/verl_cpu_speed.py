"""verl on this CPU at the tiny config: start-up time, seconds per step and peak memory.

    .venv/bin/python benchmarks/verl_cpu_speed.py [--steps 10] [--recipe experiments/gsm8k/redit_gaussian.sh]

Runs the recipe with SCALE=tiny in a temporary run folder and prints:
  start-up   seconds from launch to the first metrics line (Ray, workers, model, val before train)
  s/step     median of verl's own `timing_s/step` over the steps after the first
  peak mem   largest summed PSS over the whole process tree (driver + Ray + workers), sampled
             every 0.5 s (summed RSS too, which counts shared pages once per process)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from redit import REPO_ROOT as REPO  # noqa: E402


def tree_memory(proc: psutil.Process) -> tuple[int, int]:
    """(sum of PSS, sum of RSS) over the process tree. PSS splits shared pages (torch libraries, Ray's
    shared-memory object store) among the processes mapping them, so its sum is the tree's real
    footprint; the RSS sum counts every shared page once per process."""
    pss = rss = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            info = p.memory_full_info()
            pss, rss = pss + info.pss, rss + info.rss
        except psutil.Error:
            pass
    return pss, rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--recipe", default="experiments/gsm8k/redit_gaussian.sh")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        env = {**os.environ, "SCALE": "tiny", "REWARD": "verl", "RUN_DIR": str(run_dir), "STEPS": str(args.steps),
               "TEST_FREQ": str(args.steps), "DATA_ROOT": str(Path(tmp) / "data")}
        start = time.time()
        proc = subprocess.Popen([str(REPO / args.recipe)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ps, peak, peak_rss, first_line, procs = psutil.Process(proc.pid), 0, 0, None, 0
        metrics = run_dir / "metrics.jsonl"
        while proc.poll() is None:
            try:
                pss, rss = tree_memory(ps)
                peak, peak_rss = max(peak, pss), max(peak_rss, rss)
                procs = max(procs, len(ps.children(recursive=True)) + 1)
            except psutil.Error:
                pass
            if first_line is None and metrics.is_file() and metrics.stat().st_size > 0:
                first_line = time.time() - start
            time.sleep(0.5)
        wall = time.time() - start
        if proc.returncode != 0:
            sys.exit(f"error: the recipe failed (exit {proc.returncode}); run it by hand to see verl's log")
        rows = [json.loads(line) for line in metrics.read_text().splitlines()]
        step_times = [r["data"]["timing_s/step"] for r in rows if r["step"] >= 2 and "timing_s/step" in r["data"]]
    print(f"verl {args.recipe} SCALE=tiny, {args.steps} steps, {os.cpu_count()} cores")
    print(f"  start-up (launch -> first metrics line): {first_line:.1f} s")
    print(f"  s/step (median timing_s/step, steps 2..{args.steps}): {statistics.median(step_times):.2f} "
          f"(min {min(step_times):.2f}, max {max(step_times):.2f})")
    print(f"  wall total: {wall:.1f} s; up to {procs} processes")
    print(f"  peak memory of the process tree: {peak / 2**30:.2f} GiB PSS ({peak_rss / 2**30:.2f} GiB summed RSS, shared pages counted per process)")


if __name__ == "__main__":
    main()
