#!/usr/bin/env bash
# GSM8K with Qwen2.5-7B-Instruct (paper: Figure 1, main table). One experiment = one verl run.
#   experiments/gsm8k/grpo.sh | redit_gaussian.sh | redit_uniform.sh   [--dry-run]   (SCALE=tiny for a CPU)
source "$(dirname "$0")/../common.sh" "$@"
TASK=gsm8k; DATA_TASK=gsm8k
: "${MODEL:=Qwen/Qwen2.5-7B-Instruct}"   # paper (Figures 1 and 3)
: "${STEPS:=1000}"                        # paper: Figure 1 runs 1000 steps
# Below: verl's examples/grpo_trainer/run_qwen2-7b.sh values (the paper's own are not known here).
: "${TRAIN_BATCH:=1024}" "${MINI_BATCH:=256}" "${ROLLOUT_N:=5}" "${LR:=1e-6}"
: "${MAX_PROMPT:=512}" "${MAX_RESPONSE:=1024}" "${TP:=2}" "${GPUS_PER_NODE:=8}" "${NNODES:=1}" "${TEST_FREQ:=50}"
launch_verl
