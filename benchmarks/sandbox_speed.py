"""Sandbox throughput, before vs after: the old single-process harness (redit/sandbox.py at a given
commit, loaded from git) against the current judge + program processes, on MBPP gold solutions.

    PYTHONPATH=. .venv/bin/python benchmarks/sandbox_speed.py [--n 200] [--old-commit 76b3b0b] [--workers 1]

Prints programs/s and the gold pass rate per implementation and isolation mode.
"""

import argparse
import importlib.util
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
    p.add_argument("--old-commit", default="76b3b0b")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--data-dir", default="../shared/data")
    args = p.parse_args(argv)
    rows = tasks.load_rows("mbpp", "test", args.data_dir)[: args.n]
    old = old_module(args.old_commit)
    old_modes = ["subprocess"] + (["bwrap"] if old.isolation_default() == "bwrap" else [])
    print(f"MBPP gold, first {len(rows)} rows, {args.workers} worker(s)")
    print(f"{'implementation':34s} {'isolation':10s} {'programs/s':>10s} {'gold pass':>10s}")
    for mode in old_modes:
        rate, gold = timed(old.run_tests, rows, mode, args.workers)
        print(f"{'old (' + args.old_commit + ', one process)':34s} {mode:10s} {rate:10.1f} {100 * gold:9.1f}%")
    for mode in sandbox.available_isolations():
        rate, gold = timed(sandbox.run_tests, rows, mode, args.workers)
        print(f"{'new (judge + program process)':34s} {mode:10s} {rate:10.1f} {100 * gold:9.1f}%")


if __name__ == "__main__":
    sys.exit(main())
