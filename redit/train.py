"""Train one run and write its run folder (config.json, metrics.jsonl, done.json).

    python -m redit.train --run-dir runs/tiny/redit-gaussian-s0 --dist gaussian --sigma 0.05 --seed 0
    python -m redit.train --run-dir runs/tiny/grpo-s0 --dist none --seed 0

A finished run (done.json present) is skipped unless --overwrite; an unfinished one is restarted
from step 0 (tiny runs take a minute or two; its old partial metrics are replaced).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .adaptive_sigma import TARGETS, SigmaController
from .algorithms import ALGORITHMS
from .dither import DISTRIBUTIONS, SCHEDULES, SCOPES, DitherConfig
from .runlog import RunFolder, git_commit, library_versions, method_name
from . import REPO_ROOT
from .tiny_policy import TinyPolicySpec

BACKENDS = ("trl",)  # verl runs go through experiments/ recipes (python -m verl.trainer.main_ppo)
TASKS = ("tiny",)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, required=True, help="run folder to write (runs/<scale>/<name>)")
    p.add_argument("--backend", default="trl", choices=BACKENDS)
    p.add_argument("--task", default="tiny", choices=TASKS)
    p.add_argument("--algorithm", default="grpo", choices=ALGORITHMS,
                   help="grpo | dr_grpo (no std, sequence-sum loss) | dapo (clip-higher, raw-accuracy group filter, overlong penalty) | real (Rewards as Labels); see redit/algorithms.py")
    p.add_argument("--model", type=Path, default=None, help="local model folder (default: the cached tiny policy, built if missing)")
    g = p.add_argument_group("ReDit dithering (redit.dither.DitherConfig)")
    g.add_argument("--dist", default="none", choices=DISTRIBUTIONS, help="noise distribution; none = plain GRPO")
    g.add_argument("--sigma", type=float, default=0.0, help="gaussian std / uniform half-width a / laplace scale b")
    g.add_argument("--schedule", default="constant", choices=SCHEDULES)
    g.add_argument("--sigma-end", type=float, default=0.0, help="sigma at the last step for non-constant schedules")
    g.add_argument("--scope", default="all", choices=SCOPES, help="groups that get noise, by their raw rewards: all (the paper), zero_var, mixed")
    g.add_argument("--adaptive", default="none", choices=("none", *TARGETS),
                   help="adaptive sigma (redit.adaptive_sigma): move sigma each step toward --setpoint of this statistic; --sigma is the start")
    g.add_argument("--setpoint", type=float, default=None, help="adaptive target (default: flip_rate 0.05, grad_norm 1.0)")
    g.add_argument("--dither-seed", type=int, default=None, help="noise seed (default: --seed)")
    t = p.add_argument_group("training")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=150)
    t.add_argument("--prompts-per-step", type=int, default=8)
    t.add_argument("--num-generations", type=int, default=8, help="group size G")
    t.add_argument("--lr", type=float, default=3e-5)
    t.add_argument("--max-grad-norm", type=float, default=1.0)
    t.add_argument("--temperature", type=float, default=1.0)
    t.add_argument("--max-new-tokens", type=int, default=40)
    t.add_argument("--val-every", type=int, default=10, help="validate (greedy, never dithered) every K steps")
    t.add_argument("--threads", type=int, default=1, help="torch threads (fixed so runs are bit-reproducible)")
    t.add_argument("--no-timing", action="store_true", help="omit timing_s/* so metrics.jsonl is byte-reproducible")
    t.add_argument("--overwrite", action="store_true", help="rerun even if the run folder is complete")
    return p.parse_args(argv)


def resolve_config(args) -> dict:
    """Validate everything cheap before any long work; raises ValueError with one clear sentence."""
    for name in ("steps", "prompts_per_step", "val_every", "max_new_tokens", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}.")
    if args.num_generations < 2:
        raise ValueError(f"--num-generations must be >= 2 for group-normalised advantages; got {args.num_generations}.")
    if args.model is not None and not (args.model / "config.json").is_file():
        raise ValueError(f"--model {args.model} is not a model folder (no config.json); omit --model to use the tiny policy.")
    dither_cfg = DitherConfig(dist=args.dist, sigma=args.sigma, schedule=args.schedule, sigma_end=args.sigma_end,
                              total_steps=args.steps if args.schedule != "constant" else None,
                              seed=args.seed if args.dither_seed is None else args.dither_seed, scope=args.scope)
    if args.dist != "none" and not dither_cfg.enabled:
        raise ValueError(f"--dist {args.dist} with sigma 0 adds no noise; use --dist none for plain GRPO or set --sigma.")
    adaptive = None
    if args.adaptive != "none":
        if args.dist == "none" or args.schedule != "constant":
            raise ValueError("--adaptive needs a noise --dist and the constant --schedule (the controller sets sigma).")
        setpoint = args.setpoint if args.setpoint is not None else {"flip_rate": 0.05, "grad_norm": 1.0}[args.adaptive]
        adaptive = SigmaController(target=args.adaptive, setpoint=setpoint, sigma=args.sigma,
                                   sigma_max=max(1.0, args.sigma)).to_dict()
    return {
        "backend": args.backend, "task": args.task, "algorithm": args.algorithm, "seed": args.seed,
        "steps": args.steps, "prompts_per_step": args.prompts_per_step, "num_generations": args.num_generations,
        "lr": args.lr, "max_grad_norm": args.max_grad_norm, "temperature": args.temperature,
        "max_new_tokens": args.max_new_tokens, "val_every": args.val_every, "threads": args.threads,
        "log_timing": not args.no_timing, "dither": dither_cfg.to_dict(), "adaptive_sigma": adaptive,
        "method": method_name(args.algorithm, args.dist),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = resolve_config(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    run = RunFolder(args.run_dir)
    if run.is_complete() and not args.overwrite:
        stored = json.loads(run.config_path.read_text())
        stored["dither"] = DitherConfig(**stored.get("dither", {})).to_dict()  # keys added since are at their defaults
        stored.setdefault("adaptive_sigma", None)
        changed = sorted(k for k in cfg if k not in ("threads", "log_timing") and stored.get(k) != cfg[k])
        if changed:
            print(f"error: {run.path} already holds a finished run with a different {', '.join(changed)}; "
                  f"choose another --run-dir or pass --overwrite to replace it.", file=sys.stderr)
            return 2
        print(f"[skip] {run.path} is complete (done.json); pass --overwrite to rerun")
        return 0
    if run.last_step() is not None:
        print(f"[restart] {run.path} was unfinished (last step {run.last_step()}); starting it again from step 0")

    import torch

    from . import tiny_task, trl_backend
    from .tiny_policy import ensure_tiny_policy

    torch.set_num_threads(args.threads)
    spec = TinyPolicySpec()
    model_path = args.model or ensure_tiny_policy(spec)
    policy_report = model_path / "sft_report.json"
    cfg["model"] = {"path": str(Path(model_path).resolve()),
                    "tiny_policy": json.loads(policy_report.read_text()) if policy_report.is_file() else None}
    if cfg["model"]["tiny_policy"]:
        cfg["model"]["tiny_policy"].pop("history", None)
    cfg["task_config"] = spec.task.to_dict()
    cfg["versions"] = library_versions()
    cfg["git"] = git_commit(REPO_ROOT)
    train_rows, val_rows = tiny_task.generate(spec.task, "train"), tiny_task.generate(spec.task, "test")

    run.start(cfg)
    name = run.path.name
    summary = trl_backend.train(run, cfg, model_path, train_rows, val_rows, progress=lambda msg: print(f"[{name}] {msg}", flush=True))
    if (run.path / "trl").is_dir() and not any((run.path / "trl").iterdir()):
        (run.path / "trl").rmdir()  # TRL's output_dir stays empty (save_strategy="no")
    run.finish(summary)
    print(f"[done] {run.path}  {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
