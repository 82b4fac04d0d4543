#!/usr/bin/env bash
# Geometry3K with Qwen2.5-VL-7B-Instruct (paper: main table, multimodal): images in the prompt, binary reward
# (the released code has no Geometry3K reward). SCALE=tiny/smoke drop the images (text-only tiny policy).
#   experiments/geo3k/grpo.sh | redit_gaussian.sh | redit_uniform.sh  [--dry-run] [key=value ...]  (SCALE=smoke|tiny; -h)
set -euo pipefail
source "$(dirname "$0")/../common.sh"
# The batch, lr, lengths and machine: verl's examples/grpo_trainer/run_qwen2_5_vl-7b.sh (the paper's own are not known here).
RECIPE=(
  TASK=geo3k
  MODEL=Qwen/Qwen2.5-VL-7B-Instruct   # paper (a vision-language model for Geometry3K)
  STEPS=1000                          # unknown here (the paper's step count for geo3k); the figures' 1000
  TRAIN_BATCH=512 MINI_BATCH=128 ROLLOUT_N=5 LR=1e-6                    # verl's example
  MAX_PROMPT=1024 MAX_RESPONSE=2048 TP=2 GPUS_PER_NODE=8 NNODES=1 TEST_FREQ=50   # verl's example
  EST_STEP_SECONDS=120                # an estimate, not a measurement (experiments/README.md)
  TEXT_ONLY_BELOW_PAPER=1             # SCALE=tiny/smoke: data without images (the tiny policy reads text only)
  data.image_key=images               # verl's multimodal rows: the parquet's `images` column
)
exec "$PY" -m patches.verl_recipe "${RECIPE[@]}" -- "$@"
