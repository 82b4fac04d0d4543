#!/usr/bin/env bash
# MATH with Qwen2.5-7B-Instruct (the paper's Figure 3 names Qwen2.5-7B; instruct is this project's choice): train on
# MATH (hub), test on MATH-500, with the paper's released-code reward (correctness 2 + reasoning steps 1, max 3.0)
# and \boxed{} prompt by default.
#   experiments/math/grpo.sh | redit_gaussian.sh | redit_uniform.sh  [--dry-run] [key=value ...]  (SCALE=smoke|tiny; -h)
set -euo pipefail
source "$(dirname "$0")/../common.sh"
RECIPE=(
  TASK=math
  MODEL=Qwen/Qwen2.5-7B-Instruct    # paper Figure 3: Qwen2.5-7B (instruct: our guess)
  STEPS=1000                        # paper figures span 1000 steps
  HYPERPARAMETERS=released_code     # the same family as GSM8K's (grpo_math.py); unconfirmed for MATH
  TP=2 GPUS_PER_NODE=8 NNODES=1     # verl's 7B example machine
  TEST_FREQ=50                      # ours
  EST_STEP_SECONDS=40               # an estimate, not a measurement (experiments/README.md)
)
exec "$PY" -m patches.verl_recipe "${RECIPE[@]}" -- "$@"
