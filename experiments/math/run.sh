#!/usr/bin/env bash
# MATH with Qwen2.5-7B-Instruct (paper: Figure 3, main table): train on MATH (hub), test on MATH-500. One experiment = one verl run.
#   experiments/math/grpo.sh | redit_gaussian.sh | redit_uniform.sh   [--dry-run]   (SCALE=tiny for a CPU)
source "$(dirname "$0")/../common.sh" "$@"
TASK=math; DATA_TASK=math
: "${MODEL:=Qwen/Qwen2.5-7B-Instruct}"   # paper (Figure 3)
: "${STEPS:=1000}"                        # paper figures span 1000 steps
# Below: verl's examples/grpo_trainer/run_qwen2-7b.sh values (the paper's own are not known here).
: "${TRAIN_BATCH:=1024}" "${MINI_BATCH:=256}" "${ROLLOUT_N:=5}" "${LR:=1e-6}"
: "${MAX_PROMPT:=512}" "${MAX_RESPONSE:=2048}" "${TP:=2}" "${GPUS_PER_NODE:=8}" "${NNODES:=1}" "${TEST_FREQ:=50}"
launch_verl \
  data.train_files="$DATA_ROOT/$TASK/train.parquet" \
  data.val_files="$DATA_ROOT/$TASK/test.parquet" \
  data.train_batch_size="$TRAIN_BATCH" \
  data.max_prompt_length="$MAX_PROMPT" \
  data.max_response_length="$MAX_RESPONSE" \
  data.filter_overlong_prompts=True \
  actor_rollout_ref.model.path="$MODEL" \
  actor_rollout_ref.actor.optim.lr="$LR" \
  actor_rollout_ref.actor.ppo_mini_batch_size="$MINI_BATCH" \
  actor_rollout_ref.actor.use_kl_loss=False \
  actor_rollout_ref.actor.entropy_coeff=0 \
  actor_rollout_ref.rollout.n="$ROLLOUT_N" \
  actor_rollout_ref.rollout.tensor_model_parallel_size="$TP" \
  trainer.n_gpus_per_node="$GPUS_PER_NODE" \
  trainer.nnodes="$NNODES" \
  trainer.total_training_steps="$STEPS" \
  trainer.test_freq="$TEST_FREQ" \
  trainer.save_freq=-1 \
  trainer.val_before_train=True
