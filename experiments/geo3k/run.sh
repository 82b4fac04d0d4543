#!/usr/bin/env bash
# Geometry3K with Qwen2.5-VL-7B-Instruct (paper: main table, multimodal). SCALE=tiny drops the images (text-only tiny policy). One experiment = one verl run.
#   experiments/geo3k/grpo.sh | redit_gaussian.sh | redit_uniform.sh   [--dry-run]   (SCALE=tiny for a CPU)
source "$(dirname "$0")/../common.sh" "$@"
TASK=geo3k; DATA_TASK=geo3k
[[ "$SCALE" == tiny ]] && DATA_LIMITS="$DATA_LIMITS --text-only"
: "${MODEL:=Qwen/Qwen2.5-VL-7B-Instruct}"  # paper (vision-language model for Geometry3K)
: "${STEPS:=1000}"                        # (paper step count for geo3k unknown here; verl example scale)
# Below: verl's examples/grpo_trainer/run_qwen2_5_vl-7b.sh values (the paper's own are not known here).
: "${TRAIN_BATCH:=512}" "${MINI_BATCH:=128}" "${ROLLOUT_N:=5}" "${LR:=1e-6}"
: "${MAX_PROMPT:=1024}" "${MAX_RESPONSE:=2048}" "${TP:=2}" "${GPUS_PER_NODE:=8}" "${NNODES:=1}" "${TEST_FREQ:=50}"
launch_verl
