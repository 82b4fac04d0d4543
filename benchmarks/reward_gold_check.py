"""Score every gold solution of the offline benchmarks against its own reference, and a wrong answer.

    .venv/bin/python benchmarks/reward_gold_check.py [--tasks gsm8k math mbpp humaneval geo3k] [--data-dir DIR]
    REDIT_SANDBOX=unshare .venv/bin/python benchmarks/reward_gold_check.py --tasks mbpp humaneval  # one sandbox mode

Prints, per task: gold pass rate, the misses, how many corrupted answers scored 0, and wall time
(for code tasks also sandboxed programs per second on this machine).
"""

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from redit import rewards, tasks


def wrong_answer(task, row):
    """A response that must score 0: the gold answer + 1 (math), or the gold code broken."""
    if task == "gsm8k":
        return f"#### {float(row['reference']) + 1:g}"
    if task == "math":
        return f"\\boxed{{{row['reference']}+1}}"
    if task == "mbpp":
        return row["solution"] + "\n\n" + "\n".join(f"del {name}" for name in _defined(row["solution"]))
    if task == "humaneval":
        return "    return None\n"
    return None


def _defined(code):
    import re

    return re.findall(r"^def\s+(\w+)", code, flags=re.MULTILINE)[-1:]


def gold_response(task, row):
    if task == "geo3k":
        return f"\\boxed{{{row['reference']['answer']}}}"
    if task == "humaneval":
        return row["solution"]  # a function body continuing the prompt
    return row["solution"]


def check(task, data_dir, workers):
    rows = tasks.load_rows(task, "test", data_dir)
    start = time.time()
    code = tasks.get(task).code
    # code scoring runs in subprocesses, so threads overlap them; math-verify's timeout needs the main thread
    with ThreadPoolExecutor(workers if code else 1) as pool:
        mapper = pool.map if code else map
        gold = list(mapper(lambda r: rewards.score(task, gold_response(task, r), r["reference"]), rows))
        wrongs = [(r, wrong_answer(task, r)) for r in rows]
        wrong = list(mapper(lambda rw: rewards.score(task, rw[1], rw[0]["reference"]) if rw[1] is not None else 0.0, wrongs))
    seconds = time.time() - start
    misses = [r["index"] for r, s in zip(rows, gold) if s != 1.0]
    return {"task": task, "rows": len(rows), "gold_rate": sum(s == 1.0 for s in gold) / len(rows),
            "misses": misses, "wrong_scored_zero": sum(s == 0.0 for s in wrong) / len(rows),
            "seconds": seconds, "programs_per_s": 2 * len(rows) / seconds}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=[name for name in tasks.TASKS if name != "tiny"], choices=list(tasks.TASKS))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    if any(tasks.get(name).code for name in args.tasks):
        from redit.sandbox import require_sandbox

        print(f"code sandbox: {require_sandbox()}")
    for task in args.tasks:
        r = check(task, args.data_dir, args.workers)
        extra = f"  {r['programs_per_s']:.1f} sandboxed programs/s" if tasks.get(task).code else ""
        print(f"{task:10s} rows {r['rows']:5d}  gold scores 1.0: {100 * r['gold_rate']:.2f}%  "
              f"wrong answers score 0: {100 * r['wrong_scored_zero']:.2f}%  {r['seconds']:.1f}s{extra}")
        if r["misses"]:
            print(f"           misses ({len(r['misses'])}): {r['misses']}")


if __name__ == "__main__":
    sys.exit(main())
