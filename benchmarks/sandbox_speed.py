"""Sandbox throughput, before vs after: redit/sandbox.py at a given commit (loaded from git; the
default is HEAD, i.e. the committed harness against the working tree's) and the current one, on
MBPP gold solutions, per isolation mode. `--old-commit 76b3b0b` compares with the old single-process
harness instead.

    PYTHONPATH=. .venv/bin/python benchmarks/sandbox_speed.py [--n 200] [--old-commit HEAD] [--workers 1] [--rounds 1]

Prints programs/s and the gold pass rate per implementation and isolation mode; with --rounds > 1
old and new alternate (so background load hits both alike) and the median rate is printed.
"""

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from redit import rewards, sandbox, tasks


def old_module(commit):
    src = subprocess.run(["git", "show", f"{commit}:redit/sandbox.py"], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout
    path = Path(tempfile.mkdtemp(prefix="redit-oldsandbox-")) / "old_sandbox.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("old_sandbox", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_sandbox"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def timed(run, rows, isolation, workers):
    def one(r):
        ref = r["reference"]
        return run(rewards.extract_code(r["solution"]), list(ref["test_list"]), setup=ref.get("test_setup_code", ""),
                   isolation=isolation).passed
    start = time.time()
    with ThreadPoolExecutor(workers) as pool:
        passed = list(pool.map(one, rows))
    seconds = time.time() - start
    return len(rows) / seconds, sum(passed) / len(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--old-commit", default="HEAD")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--data-dir", default="../shared/data")
    args = p.parse_args(argv)
    rows = tasks.load_rows("mbpp", "test", args.data_dir)[: args.n]
    old = old_module(args.old_commit)
    if hasattr(old, "available_isolations"):
        old_modes = old.available_isolations()
    else:  # the single-process harness: a plain subprocess, or bubblewrap
        old_modes = ["subprocess"] + (["bwrap"] if old.isolation_default() == "bwrap" else [])
    new_modes = sandbox.available_isolations()
    label = {"old": f"old ({args.old_commit})", "new": "new (working tree)"}
    runs = [("old", old.run_tests, m) for m in old_modes] + [("new", sandbox.run_tests, m) for m in new_modes]
    rates = {(which, mode): [] for which, _, mode in runs}
    golds = {}
    print(f"MBPP gold, first {len(rows)} rows, {args.workers} worker(s), {args.rounds} round(s)")
    for _ in range(args.rounds):
        for mode in sorted({m for _, _, m in runs}):
            for which, run, m in runs:
                if m == mode:
                    rate, golds[which, mode] = timed(run, rows, mode, args.workers)
                    rates[which, mode].append(rate)
    print(f"{'implementation':34s} {'isolation':10s} {'programs/s':>10s} {'gold pass':>10s} {'new/old':>8s}")
    for which, _, mode in runs:
        rate = statistics.median(rates[which, mode])
        base = rates.get(("old", mode))
        ratio = f"{rate / statistics.median(base):8.2f}" if which == "new" and base else ""
        print(f"{label[which]:34s} {mode:10s} {rate:10.1f} {100 * golds[which, mode]:9.1f}% {ratio}")

if __name__ == "__main__":
    sys.exit(main())
