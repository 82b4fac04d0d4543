"""Calibrate the regime experiment's levels BEFORE any training run: how saturated are GRPO's groups
at step 0 for a given task difficulty and sampling temperature?

    python scripts/regime_pilot.py                       # the levels of redit/registry.py REGIME_LEVELS
    python scripts/regime_pilot.py --levels 9:1:2:1.0 20:2:3:1.0 --prompts 512

A level is max_number:min_ops:max_ops:temperature. For each, G completions are sampled for each of
--prompts training problems with the SFT-warmed tiny policy (the regime runs' starting point) and
scored with the raw 0/1 reward; a group is saturated when its G rewards are all equal (all correct or
all wrong). This measures the independent variable only; it trains nothing and sees no outcome.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import replace

import torch

from redit import tiny_task
from redit.registry import REGIME_LEVELS
from redit.rewards import score
from redit.tiny_policy import TinyPolicySpec, ensure_tiny_policy, generate, load_policy

CANDIDATES = tuple(":".join(map(str, level)) for level in REGIME_LEVELS.values())


def saturation(model, tokenizer, task: tiny_task.TinyTaskConfig, temperature: float, prompts: int, group: int,
               seed: int = 0, max_new_tokens: int = 40) -> dict:
    rows = random.Random(seed).sample(tiny_task.generate(task, "train"), prompts)
    torch.manual_seed(seed)
    texts = [tiny_task.prompt(r["question"]) for r in rows for _ in range(group)]
    completions = generate(model, tokenizer, texts, max_new_tokens=max_new_tokens, greedy=False, temperature=temperature)
    correct = torch.tensor([score("tiny", c, r["ground_truth"]) for c, r in zip(completions, [r for r in rows for _ in range(group)])])
    per_group = correct.view(prompts, group).sum(1)
    return {"accuracy": correct.mean().item(), "all_correct": (per_group == group).float().mean().item(),
            "all_wrong": (per_group == 0).float().mean().item()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--levels", nargs="+", default=list(CANDIDATES), help="max_number:min_ops:max_ops:temperature")
    p.add_argument("--prompts", type=int, default=512)
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = TinyPolicySpec()
    model, tokenizer = load_policy(ensure_tiny_policy(spec))
    print(f"policy {spec.key()}; {args.prompts} prompts x G={args.group} per level, sampled at step 0\n")
    print("| level (max_number:ops:temperature) | sampled acc | zero-var groups | all-correct | all-wrong |")
    print("|---|---|---|---|---|")
    for level in args.levels:
        max_number, min_ops, max_ops, temperature = level.split(":")
        task = replace(spec.task, max_number=int(max_number), min_ops=int(min_ops), max_ops=int(max_ops))
        s = saturation(model, tokenizer, task, float(temperature), args.prompts, args.group)
        print(f"| {max_number}:{min_ops}-{max_ops}:{temperature} | {s['accuracy']:.3f} | {s['all_correct'] + s['all_wrong']:.3f} "
              f"| {s['all_correct']:.3f} | {s['all_wrong']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
