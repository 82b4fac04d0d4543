#!/usr/bin/env bash
# Code: MBPP (train 601-974, test 11-510) with Qwen2.5-Coder-7B-Instruct (paper: code benchmark row). Rewards run
# in the sandbox, binary (the released code has no code reward).
#   experiments/mbpp/grpo.sh | redit_gaussian.sh | redit_uniform.sh  [--dry-run] [key=value ...]  (SCALE=smoke|tiny; -h)
set -euo pipefail
source "$(dirname "$0")/../common.sh"
# The batch, lr, lengths and machine: verl's examples/grpo_trainer/run_qwen2-7b.sh, the batch scaled to MBPP's
# 374 training tasks (the paper's own are not known here).
RECIPE=(
  TASK=mbpp
  MODEL=Qwen/Qwen2.5-Coder-7B-Instruct   # the paper names no code model here; a Qwen2.5 coder
  STEPS=1000                             # unknown here (the paper's step count for code)
  TRAIN_BATCH=256 MINI_BATCH=64 ROLLOUT_N=5 LR=1e-6                      # verl's example, batch scaled
  MAX_PROMPT=512 MAX_RESPONSE=1024 TP=2 GPUS_PER_NODE=8 NNODES=1 TEST_FREQ=50    # verl's example
  EST_STEP_SECONDS=60                    # an estimate, not a measurement (experiments/README.md)
)
exec "$PY" -m patches.verl_recipe "${RECIPE[@]}" -- "$@"
