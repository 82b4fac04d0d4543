#!/usr/bin/env bash
# Code: MBPP (train 601-974, test 11-510) with Qwen2.5-Coder-7B-Instruct (paper: code benchmark row). Rewards run in the sandbox. One experiment = one verl run.
#   experiments/mbpp/grpo.sh | redit_gaussian.sh | redit_uniform.sh   [--dry-run]   (SCALE=tiny for a CPU)
source "$(dirname "$0")/../common.sh" "$@"
TASK=mbpp; DATA_TASK=mbpp
: "${MODEL:=Qwen/Qwen2.5-Coder-7B-Instruct}"  # the paper names no code model here; a Qwen2.5 coder
: "${STEPS:=1000}"                        # (paper step count for code unknown here)
# Below: verl's examples/grpo_trainer/run_qwen2-7b.sh values (the paper's own are not known here).
: "${TRAIN_BATCH:=256}" "${MINI_BATCH:=64}" "${ROLLOUT_N:=5}" "${LR:=1e-6}"
: "${MAX_PROMPT:=512}" "${MAX_RESPONSE:=1024}" "${TP:=2}" "${GPUS_PER_NODE:=8}" "${NNODES:=1}" "${TEST_FREQ:=50}"
launch_verl
