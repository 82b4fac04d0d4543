"""Analysis speed on a large synthetic sweep: 100 runs x 1000 steps x 40 metric keys.

    .venv/bin/python benchmarks/analysis_speed.py [--runs 100] [--steps 1000] [--keys 40] [--keep DIR]

Writes the run folders (the shared schema: config.json, metrics.jsonl, done.json) into a temporary
folder, then times and prints: reading every run, the tidy long frame, and the whole report
(`python -m analysis` in-process: every table, figure and the README). Target: the analysis,
reading included, under 30 s on the 2-core machine.
"""

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import analysis
from redit import registry
from redit.runlog import SCHEMA


def write_sweep(root: Path, n_runs: int, steps: int, n_keys: int, val_every: int = 50) -> int:
    """main/: grpo, redit-gaussian, redit-uniform; variance/: two distributions x five sigmas; seeds fill
    the rest. Returns the number of metric values written."""
    rng = np.random.default_rng(0)
    train_keys = [k for k in SCHEMA if not k.startswith("val-core")]
    train_keys += [f"extra/key_{i}" for i in range(n_keys - 1 - len(train_keys))]  # 1 key is validation
    grid = [("main", v.dist, v.sigma) for v in registry.get("main").variants.values()]
    grid += [("variance", v.dist, v.sigma) for v in registry.get("variance").variants.values() if v.dist != "none"]
    values = 0
    for i in range(n_runs):
        experiment, dist, sigma = grid[i % len(grid)]
        seed = i // len(grid)
        name = f"{'grpo' if dist == 'none' else 'redit-' + dist}-{sigma:g}-s{seed}"
        path = root / ("" if experiment == "main" else experiment) / name
        path.mkdir(parents=True)
        config = {"backend": "trl", "task": "tiny", "algorithm": "grpo", "seed": seed, "steps": steps,
                  "dither": {"dist": dist, "sigma": sigma, "schedule": "constant"}}
        (path / "config.json").write_text(json.dumps(config))
        acc = 0.5 + 0.2 * (1 - np.exp(-np.arange(steps + 1) / 300)) + rng.normal(0, 0.02, steps + 1)
        lines = []
        for step in range(steps + 1):
            data = {"val-core/tiny/acc/mean@1": float(acc[step])} if step % val_every == 0 else {}
            if step:
                data.update(zip(train_keys, rng.lognormal(-0.5, 1.0, len(train_keys)).tolist()))
            values += len(data)
            lines.append(json.dumps({"step": step, "data": data}))
        (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        (path / "done.json").write_text("{}")
    return values


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--keys", type=int, default=40)
    p.add_argument("--keep", type=Path, help="write the sweep here and keep it (default: a temporary folder)")
    args = p.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="redit-analysis-bench-"))
    try:
        t0 = time.perf_counter()
        values = write_sweep(root / "runs", args.runs, args.steps, args.keys)
        t1 = time.perf_counter()
        runs = analysis.load_runs(root / "runs")
        t2 = time.perf_counter()
        frame = analysis.tidy(runs)
        t3 = time.perf_counter()
        rc = analysis.main(["--runs", str(root / "runs"), "--out", str(root / "results"), "--scale", "bench"])
        t4 = time.perf_counter()
        assert rc == 0 and len(runs) == args.runs and len(frame) == values
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"\nsweep: {args.runs} runs x {args.steps} steps x {args.keys} keys = {values:,} values "
              f"(written in {t1 - t0:.1f} s)")
        print(f"read all run folders      {t2 - t1:6.1f} s")
        print(f"tidy frame ({len(frame):,} rows)  {t3 - t2:6.1f} s")
        print(f"full report (reads again, every table, figure, README)  {t4 - t3:6.1f} s")
        print(f"peak memory (max RSS)     {peak:6.2f} GiB")
        print(f"TOTAL analysis (report)   {t4 - t3:6.1f} s   target < 30 s: {'met' if t4 - t3 < 30 else 'NOT met'}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
