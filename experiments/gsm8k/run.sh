#!/usr/bin/env bash
# GSM8K with Qwen2.5-7B-Instruct (the paper's Figure 1 names Qwen2.5-7B; the instruct variant is this project's
# choice), with the paper's released-code reward (5 parts, max 5.0) and <reasoning>/<answer> prompt by default
# (REWARD_STYLE=binary: 0/1 + verl's prompt).
#   experiments/gsm8k/grpo.sh | redit_gaussian.sh | redit_uniform.sh  [--dry-run] [key=value ...]  (SCALE=smoke|tiny; -h)
set -euo pipefail
source "$(dirname "$0")/../common.sh"
RECIPE=(
  TASK=gsm8k
  MODEL=Qwen/Qwen2.5-7B-Instruct    # paper Figures 1 and 3: Qwen2.5-7B (instruct: our guess); the released code family defaults to the 1.5B
  STEPS=1000                        # paper: Figure 1 runs 1000 steps
  HYPERPARAMETERS=released_code     # n 16, lr 5e-6, clip 0.1, 256/786 tokens, ... (patches/verl_recipe.py RELEASED_CODE)
  TP=2 GPUS_PER_NODE=8 NNODES=1     # verl's 7B example machine (examples/grpo_trainer/run_qwen2-7b.sh)
  TEST_FREQ=50                      # ours (the paper's evaluation interval is unknown here)
  EST_STEP_SECONDS=30               # an estimate, not a measurement (experiments/README.md)
)
exec "$PY" -m patches.verl_recipe "${RECIPE[@]}" -- "$@"
