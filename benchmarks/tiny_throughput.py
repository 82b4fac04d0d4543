"""Tiny-scale GRPO throughput: the embedded default (`python -m redit.train`, TRL GRPOTrainer on the CPU)
timed per configuration, old and new side by side in one invocation.

    PYTHONPATH=. python benchmarks/tiny_throughput.py                       # old vs every speed-up
    PYTHONPATH=. python benchmarks/tiny_throughput.py --configs old,bpe+fit+d64 --steps 30 --rounds 3
    PYTHONPATH=. python benchmarks/tiny_throughput.py --validation          # greedy validation, batch 64 vs 256

Configurations: `old` is the embedded default before issue 13 (byte tokenizer without merges, width-128
policy, 40 new tokens); `fit` fits the generation budget; `bpe` learns merges; `bpe+fit` both (the
width-128 policy); `bpe+fit+d64` also narrows the policy to width 64 (today's default).

Each configuration is a real training run through the project's code path (`redit.train.main` into a
temporary run folder, one torch thread, 8 prompts x G=8 by default), in its own process. Rounds
interleave the configurations (old, fit, bpe, bpe+fit, bpe+fit+d64, old, ...) so that load from other processes on a
shared machine hits them alike. Printed per configuration:

- median s/step: `timing_s/step` of metrics.jsonl (the whole optimizer step: generation, rewards,
  forward, backward, optimizer; validation is outside it), first step dropped (warm-up);
- tokens per sample: prompt (unpadded mean) and completion (mean; `max` = generation steps of the batch);
- the split of a step: medians of wall time inside TRL's `_generate_single_turn` (generation),
  `_get_per_token_logps_and_entropies` (the training forward: log-probs + entropy), `Accelerator.backward`
  and `AcceleratedOptimizer.step`, timed by wrapping those methods in the benchmark process only
  (each runs once per step here: one gradient-accumulation step, one iteration per generation); `other`
  is the rest of the step (rewards, advantages, TRL bookkeeping);
- steps/s with two runs of the configuration at once (one per core of a 2-core machine), summed;
- training forwards per step (1: nothing is recomputed);
- the speed-up of median s/step over the first configuration (`old`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redit import REPO_ROOT
from redit.tiny_policy import (BPE_TOKENIZER, NO_MERGES_TOKENIZER, WIDE_MODEL, TinyPolicySpec, ensure_tiny_policy,
                               fitted_max_new_tokens)

OLD_MAX_NEW_TOKENS = 40  # redit.train's default before issue 13
PHASES = ("generate", "forward", "backward", "optimizer")


def configs() -> dict[str, dict]:
    """name -> (policy spec, max_new_tokens); each speed-up alone, then stacked. `old` is the policy before
    issue 13 (no merges, width 128, 40 new tokens); the last, `bpe+fit+d64`, is today's default."""
    old = TinyPolicySpec(tokenizer=NO_MERGES_TOKENIZER, model=WIDE_MODEL)
    bpe = TinyPolicySpec(tokenizer=BPE_TOKENIZER, model=WIDE_MODEL)
    narrow = TinyPolicySpec()
    assert narrow.tokenizer == BPE_TOKENIZER and narrow.model.hidden_size == 64, "the default moved: update these names"
    return {
        "old": {"spec": old, "max_new_tokens": OLD_MAX_NEW_TOKENS},
        "fit": {"spec": old, "max_new_tokens": fitted_max_new_tokens(old)},
        "bpe": {"spec": bpe, "max_new_tokens": OLD_MAX_NEW_TOKENS},
        "bpe+fit": {"spec": bpe, "max_new_tokens": fitted_max_new_tokens(bpe)},
        "bpe+fit+d64": {"spec": narrow, "max_new_tokens": fitted_max_new_tokens(narrow)},
    }


def _instrument(timings: dict[str, list[float]], lengths: dict[str, list[float]]):
    """Wrap TRL/accelerate methods so each call's wall time is recorded (benchmark process only)."""
    import functools

    from accelerate import Accelerator
    from accelerate.optimizer import AcceleratedOptimizer
    from trl import GRPOTrainer

    def timed(cls, method, phase, after=None):
        original = getattr(cls, method)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = original(*args, **kwargs)
            timings[phase].append(time.perf_counter() - start)
            if after:
                after(args, out)
            return out
        setattr(cls, method, wrapper)

    def record_lengths(args, out):
        prompt_ids, completion_ids = args[1], out[0]
        lengths["prompt"].append(statistics.mean(map(len, prompt_ids)))
        lengths["completion"].append(statistics.mean(map(len, completion_ids)))
        lengths["completion_max"].append(max(map(len, completion_ids)))

    timed(GRPOTrainer, "_generate_single_turn", "generate", record_lengths)
    timed(GRPOTrainer, "_get_per_token_logps_and_entropies", "forward")
    timed(Accelerator, "backward", "backward")
    timed(AcceleratedOptimizer, "step", "optimizer")


def child(name: str, steps: int, prompts: int, generations: int, out: Path) -> None:
    """One training run of configuration `name`; writes its timings to `out` as JSON."""
    from redit import train

    cfg = configs()[name]
    timings, lengths = {p: [] for p in PHASES}, {"prompt": [], "completion": [], "completion_max": []}
    _instrument(timings, lengths)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / name
        argv = ["--run-dir", str(run_dir), "--steps", str(steps), "--seed", "0", "--threads", "1",
                "--prompts-per-step", str(prompts), "--num-generations", str(generations),
                "--val-every", str(steps), "--max-new-tokens", str(cfg["max_new_tokens"]),
                "--model", str(ensure_tiny_policy(cfg["spec"]))]
        with open(os.devnull, "w") as sink:
            stdout, sys.stdout = sys.stdout, sink
            try:
                code = train.main(argv)
            finally:
                sys.stdout = stdout
        if code:
            raise SystemExit(f"training run {name} failed with exit code {code}")
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    step_s = [r["data"]["timing_s/step"] for r in rows if "timing_s/step" in r["data"]]
    if len(step_s) != steps:
        raise SystemExit(f"training run {name}: expected {steps} timed steps in metrics.jsonl, found {len(step_s)}")
    out.write_text(json.dumps({"step_s": step_s, "timings": timings, "lengths": lengths}))


def launch(name: str, args, parallel: int = 1) -> list[dict]:
    """Run `parallel` children of configuration `name` at once; return their results."""
    procs = []
    for _ in range(parallel):
        out = Path(tempfile.mkstemp(suffix=".json")[1])
        cmd = [sys.executable, __file__, "--child", name, "--steps", str(args.steps), "--out", str(out),
               "--prompts-per-step", str(args.prompts_per_step), "--num-generations", str(args.num_generations)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
        procs.append((subprocess.Popen(cmd, env=env), out))
    results = []
    for proc, out in procs:
        if proc.wait():
            raise SystemExit(f"benchmark child {name} failed (exit {proc.returncode})")
        results.append(json.loads(out.read_text()))
        out.unlink()
    return results


def validation_speed(problems: int = 1000, batch_sizes=(64, 256), rounds: int = 3) -> None:
    """Greedy validation of the default policy (outside the training step): `problems` held-out problems
    at each regime level's difficulty (redit.registry.REGIME_LEVELS; validation is greedy, so temperature
    plays no part) and each batch size, one thread, median of `rounds`; the answers must be the same."""
    import torch

    from redit import tiny_task
    from redit.registry import REGIME_LEVELS
    from redit.tiny_policy import load_policy
    from redit.trl_backend import greedy_completions

    torch.set_num_threads(1)
    model, tokenizer = load_policy(ensure_tiny_policy())
    budget = fitted_max_new_tokens()
    print(f"\nGreedy validation, default policy, {problems} problems per level, 1 thread, median of {rounds} interleaved rounds")
    print(f"{'level':<9} " + " ".join(f"{'s @' + str(b):>7}" for b in batch_sizes) + f" {'x ' + str(batch_sizes[0]):>6} {'answers differing':>18}")
    for level, (max_number, min_ops, max_ops, _) in REGIME_LEVELS.items():
        task = tiny_task.TinyTaskConfig(max_number=max_number, min_ops=min_ops, max_ops=max_ops, n_test=problems)
        prompts = [tiny_task.prompt(r["question"]) for r in tiny_task.generate(task, "test")]
        times, answers = {}, {}
        for _ in range(rounds):
            for batch in batch_sizes:
                start = time.perf_counter()
                answers[batch] = greedy_completions(model, tokenizer, prompts, budget, batch)
                times.setdefault(batch, []).append(time.perf_counter() - start)
        medians = [statistics.median(times[b]) for b in batch_sizes]
        differing = sum(a != b for a, b in zip(answers[batch_sizes[-1]], answers[batch_sizes[0]]))
        print(f"{level:<9} " + " ".join(f"{m:>7.2f}" for m in medians) + f" {medians[0] / medians[-1]:>6.2f} {differing:>18}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="old,fit,bpe,bpe+fit,bpe+fit+d64", help=f"comma-separated, from {', '.join(configs())}; the first is the baseline")
    p.add_argument("--steps", type=int, default=20, help="training steps per run (the first is dropped as warm-up)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved single-run rounds per configuration")
    p.add_argument("--prompts-per-step", type=int, default=8)
    p.add_argument("--num-generations", type=int, default=8)
    p.add_argument("--no-parallel", action="store_true", help="skip the two-runs-at-once measurement")
    p.add_argument("--validation", action="store_true",
                   help="instead: time greedy validation (1000 problems) at batch 64 (before issue 13) and 256 (now)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.steps, args.prompts_per_step, args.num_generations, args.out)
        return 0
    if args.validation:
        validation_speed()
        return 0
    names = args.configs.split(",")
    known = configs()
    unknown = [n for n in names if n not in known]
    if unknown or args.steps < 2 or args.rounds < 1:
        print(f"error: unknown config {unknown} (choose from {list(known)})" if unknown else "error: need --steps >= 2 and --rounds >= 1", file=sys.stderr)
        return 2
    for n in names:  # build (or reuse) every policy before timing anything
        ensure_tiny_policy(known[n]["spec"])
    single = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names:
            print(f"[round {r + 1}/{args.rounds}] {n}", file=sys.stderr, flush=True)
            single[n] += launch(n, args)
    pair = {}
    if not args.no_parallel:
        for n in names:
            print(f"[2 runs at once] {n}", file=sys.stderr, flush=True)
            pair[n] = launch(n, args, parallel=2)

    def med(values):
        return statistics.median(values) if values else float("nan")

    rows = []
    for n in names:
        runs = single[n]
        step = med([s for run in runs for s in run["step_s"][1:]])
        phases = {ph: med([t for run in runs for t in run["timings"][ph][1:]]) for ph in PHASES}
        lengths = {k: statistics.mean(v for run in runs for v in run["lengths"][k]) for k in ("prompt", "completion", "completion_max")}
        both = sum(1 / med(run["step_s"][1:]) for run in pair[n]) if n in pair else float("nan")
        forwards = sum(len(run["timings"]["forward"]) for run in runs) / sum(len(run["step_s"]) for run in runs)
        rows.append((n, step, phases, lengths, both, forwards))
    base = rows[0][1]
    print(f"\nTiny GRPO throughput: {args.prompts_per_step} prompts x G={args.num_generations}, 1 torch thread per run, "
          f"{args.steps} steps x {args.rounds} interleaved rounds per config (first step of each run dropped)")
    header = (f"{'config':<11} {'max_new':>7} {'s/step':>7} {'x ' + names[0]:>7} {'prompt':>6} {'compl':>6} {'c.max':>5} "
              f"{'generate':>8} {'forward':>8} {'backward':>8} {'optim':>7} {'other':>7} {'fwd/step':>8} {'2-run steps/s':>13}")
    print(header)
    print("-" * len(header))
    for n, step, ph, ln, both, forwards in rows:
        other = step - sum(ph.values())
        print(f"{n:<11} {known[n]['max_new_tokens']:>7} {step:>7.3f} {base / step:>7.2f} {ln['prompt']:>6.1f} {ln['completion']:>6.1f} "
              f"{ln['completion_max']:>5.1f} {ph['generate']:>8.3f} {ph['forward']:>8.3f} {ph['backward']:>8.3f} "
              f"{ph['optimizer']:>7.4f} {other:>7.3f} {forwards:>8.2f} {both:>13.2f}")
    print("phases: median seconds per step; prompt/compl: mean tokens per sample; c.max: mean generation steps per batch;\n"
          "fwd/step: training forwards per step (1 = no log-prob pass is recomputed: TRL 1.16 skips old_per_token_logps\n"
          "with one iteration per generation, and beta=0 loads no reference model); 2-run: two runs at once, summed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
