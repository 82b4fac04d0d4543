# Sourced by every recipe in experiments/ (not run directly). It gives a recipe:
#   --dry-run     print the environment, the full verl command and the resolved verl config; run nothing
#   SCALE=paper   (default) the recipe's own values: real model, vLLM rollout, GPUs
#   SCALE=tiny    the same recipe on a CPU: the tiny policy, 4 prompts x 4 samples, 3 steps,
#                 verl's CPU mode (patches/verl_cpu.py, the `hf` rollout), 64/16 data rows
#   METHOD        grpo | redit-gaussian | redit-uniform | redit-laplace (the method wrappers set it)
#   ALGORITHM     grpo (default) | dr_grpo | dapo | reinforce_plus_plus | rloo | real: what ReDit wraps
#                 dapo = GRPO + dynamic sampling on the raw acc + clip-higher 0.2/0.28 + token-mean
#                 loss + the dapo reward manager's overlong penalty (last quarter of MAX_RESPONSE);
#                 real = the redit_real estimator + the `real` policy loss (patches/redit_verl.py)
#   SCOPE         all (default) | zero_var | mixed: which prompt groups get noise (by raw rewards)
#   DRY_RUN_CONFIG=0  with --dry-run: print only the command (no composed config)
#   REWARD        redit (default: the project's gold-checked scorers) | verl (verl's built-in scorer)
#   SIGMA SEED STEPS RUN_DIR OVERWRITE=1 ...  any recipe variable, from the environment
# and the function `launch_verl [extra overrides...]` that turns the recipe's variables (TASK MODEL
# STEPS TRAIN_BATCH MINI_BATCH ROLLOUT_N LR MAX_PROMPT MAX_RESPONSE TP GPUS_PER_NODE NNODES
# TEST_FREQ) into verl overrides, adds the method, machine and logging overrides, prepares the data,
# refuses to overwrite a finished run, and starts `python -m verl.trainer.main_ppo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
DRY_RUN=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "error: unknown option '$arg'; recipes take --dry-run, and variables from the environment (SCALE=tiny SEED=1 ...)" >&2; exit 2 ;;
  esac
done
if ! command -v "$PY" >/dev/null; then
  echo "error: no Python at $PY; run ./run_tests.sh --co -q once (it creates .venv), or on a cluster set PY=python (see environment.yml)" >&2; exit 2
fi
SCALE="${SCALE:-paper}"
case "$SCALE" in paper|tiny) ;; *) echo "error: SCALE must be paper or tiny, got '$SCALE'" >&2; exit 2 ;; esac
METHOD="${METHOD:-grpo}"
SEED="${SEED:-0}"
DATA_ROOT="${DATA_ROOT:-$ROOT/data/verl/$SCALE}"

# The tiny preset is applied first, so it wins over the recipe's `: "${VAR:=paper value}"` lines.
if [[ "$SCALE" == tiny ]]; then
  : "${MODEL:=$("$PY" -m redit.tiny_policy --path-only)}"
  : "${TRAIN_BATCH:=4}" "${MINI_BATCH:=4}" "${ROLLOUT_N:=4}" "${STEPS:=3}" "${TEST_FREQ:=3}"
  : "${MAX_PROMPT:=192}" "${MAX_RESPONSE:=32}" "${LR:=1e-5}" "${GPUS_PER_NODE:=1}" "${NNODES:=1}" "${TP:=1}"
  : "${DATA_LIMITS:=--limit-train 64 --limit-test 16 --test-as-train}"
fi

# method -> noise. Default sigma: the distribution's parameter for noise std NOISE_STD (default: the
# registry's main-table std 0.05), from dither.matched_sigma (uniform a = std*sqrt(3), Laplace b = std/sqrt(2)).
case "$METHOD" in
  grpo)           DIST=none ;;   # the ReDit estimator with dist=none == verl's own, same metrics
  redit-gaussian|redit-uniform|redit-laplace)
                  DIST="${METHOD#redit-}"
                  [[ -n "${SIGMA:-}" ]] || SIGMA="$("$PY" -m redit.registry matched-sigma "$DIST" ${NOISE_STD:-})" ;;
  *) echo "error: METHOD must be grpo, redit-gaussian, redit-uniform or redit-laplace; got '$METHOD'" >&2; exit 2 ;;
esac
# algorithm -> the verl estimator ReDit wraps (Dr.GRPO = GRPO without the std division)
ALGORITHM="${ALGORITHM:-grpo}"; NORM_STD=True
case "$ALGORITHM" in
  grpo|dapo)           ADV=redit_grpo ;;
  dr_grpo)             ADV=redit_grpo; NORM_STD=False ;;
  reinforce_plus_plus) ADV=redit_reinforce_plus_plus ;;
  rloo)                ADV=redit_rloo ;;
  real)                ADV=redit_real ;;
  *) echo "error: ALGORITHM must be grpo, dr_grpo, dapo, reinforce_plus_plus, rloo or real; got '$ALGORITHM'" >&2; exit 2 ;;
esac
: "${SIGMA:=0.0}" "${SCHEDULE:=constant}" "${SIGMA_END:=0.0}" "${SCOPE:=all}"

CPU_OVERRIDES=(
  actor_rollout_ref.rollout.name=hf
  actor_rollout_ref.actor.strategy=fsdp2
  actor_rollout_ref.actor.fsdp_config.strategy=fsdp2
  actor_rollout_ref.actor.fsdp_config.use_torch_compile=False
  +actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=fp32
  +actor_rollout_ref.model.override_config.attn_implementation=sdpa
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16
  +ray_kwargs.ray_init.num_gpus=1          # Ray must see one "GPU" to place the worker
  +ray_kwargs.ray_init.num_cpus=16         # transfer-queue actors each ask for a CPU
  transfer_queue.backend.SimpleStorage.num_data_storage_units=1
)
GPU_OVERRIDES=(
  actor_rollout_ref.rollout.name=vllm
  actor_rollout_ref.rollout.gpu_memory_utilization=0.6
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16
  actor_rollout_ref.model.enable_gradient_checkpointing=True
)

algorithm_overrides() {  # the overrides that make ALGORITHM on top of the estimator; needs MAX_RESPONSE ROLLOUT_N MICRO
  case "$ALGORITHM" in
    dapo) echo algorithm.filter_groups.enable=True algorithm.filter_groups.metric=acc \
            actor_rollout_ref.actor.clip_ratio_low=0.2 actor_rollout_ref.actor.clip_ratio_high=0.28 \
            actor_rollout_ref.actor.loss_agg_mode=token-mean reward.reward_manager.name=dapo \
            +reward.reward_kwargs.max_resp_len="$MAX_RESPONSE" +reward.reward_kwargs.overlong_buffer_cfg.enable=True \
            +reward.reward_kwargs.overlong_buffer_cfg.len="$(( MAX_RESPONSE / 4 ))" \
            +reward.reward_kwargs.overlong_buffer_cfg.penalty_factor=1.0 +reward.reward_kwargs.overlong_buffer_cfg.log=False ;;
    # whole prompt groups in each micro-batch, in order (the redit_sync trainer orders the batch by
    # group; the estimator checks they are contiguous)
    real) echo actor_rollout_ref.actor.policy_loss.loss_mode=real \
            actor_rollout_ref.actor.shuffle=False actor_rollout_ref.actor.use_dynamic_bsz=False ;;
  esac
}

launch_verl() {  # launch_verl [extra hydra overrides of the recipe...]
  local name="$METHOD-s$SEED"
  [[ "$ALGORITHM" == grpo ]] || name="$ALGORITHM-$name"
  local run_dir="${RUN_DIR:-$ROOT/runs/$SCALE-verl/$TASK/$name}"
  local plugins="patches.redit_verl" device=("${GPU_OVERRIDES[@]}") env=() micro=8
  if [[ "$SCALE" == tiny ]]; then
    plugins="patches.verl_cpu,$plugins"  # the platform plugin must come first
    device=("${CPU_OVERRIDES[@]}"); micro=16
    env=(VERL_PLATFORM=cpu VERL_ENGINE_DEVICE=cuda)
  fi
  # REAL scores whole groups: a micro-batch of whole groups (a multiple of ROLLOUT_N)
  [[ "$ALGORITHM" == real ]] && micro=$(( ROLLOUT_N * (micro / ROLLOUT_N > 0 ? micro / ROLLOUT_N : 1) ))
  env+=(VERL_USE_EXTERNAL_MODULES="$plugins" VERL_FILE_LOGGER_PATH="$run_dir/metrics.jsonl")
  local algorithm=()
  read -r -a algorithm <<< "$(algorithm_overrides)"
  local overrides=(
    # the experiment: from the recipe's variables
    data.train_files="$DATA_ROOT/$TASK/train.parquet"
    data.val_files="$DATA_ROOT/$TASK/test.parquet"
    data.train_batch_size="$TRAIN_BATCH"
    data.max_prompt_length="$MAX_PROMPT"
    data.max_response_length="$MAX_RESPONSE"
    data.filter_overlong_prompts=True
    actor_rollout_ref.model.path="$MODEL"
    actor_rollout_ref.actor.optim.lr="$LR"
    actor_rollout_ref.actor.ppo_mini_batch_size="$MINI_BATCH"
    actor_rollout_ref.actor.use_kl_loss=False   # as in the TRL backend (beta = 0), DAPO and Dr.GRPO
    actor_rollout_ref.actor.entropy_coeff=0
    actor_rollout_ref.rollout.n="$ROLLOUT_N"
    actor_rollout_ref.rollout.tensor_model_parallel_size="$TP"
    trainer.n_gpus_per_node="$GPUS_PER_NODE"
    trainer.nnodes="$NNODES"
    trainer.total_training_steps="$STEPS"
    trainer.test_freq="$TEST_FREQ"
    trainer.save_freq=-1
    trainer.val_before_train=True
    "$@"  # the recipe's own extra overrides
    # the method
    algorithm.adv_estimator="$ADV"
    algorithm.norm_adv_by_std_in_grpo="$NORM_STD"
    trainer.v1.trainer_mode=redit_sync
    +algorithm.redit.dist="$DIST"
    +algorithm.redit.sigma="$SIGMA"
    +algorithm.redit.schedule="$SCHEDULE"
    +algorithm.redit.sigma_end="$SIGMA_END"
    +algorithm.redit.seed="$SEED"
    +algorithm.redit.scope="$SCOPE"
    data.seed="$SEED"
    trainer.logger='["console","file"]'
    trainer.project_name=redit
    trainer.experiment_name="$TASK-$name"
    trainer.default_local_dir="$run_dir/checkpoints"
    "${algorithm[@]}"
    # the machine
    "${device[@]}"
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="$micro"
  )
  if [[ "${REWARD:-redit}" == redit ]]; then  # REWARD=verl: verl's built-in scorer for the data_source
    overrides+=(reward.custom_reward_function.path="$ROOT/patches/verl_reward.py" reward.custom_reward_function.name=compute_score)
  fi
  local clean=("${overrides[@]}") errors
  errors="$(mktemp)"
  if (( DRY_RUN )); then
    echo "# $TASK / $METHOD / SCALE=$SCALE / seed $SEED -> $run_dir"
    printf 'env'; printf ' %q' "${env[@]}"; printf ' \\\n  %q -m verl.trainer.main_ppo' "$PY"
    printf ' \\\n    %q' "${clean[@]}"; echo
    [[ "${DRY_RUN_CONFIG:-1}" == 0 ]] && return
    echo "# resolved verl config:"
    env "${env[@]}" "$PY" -m patches.verl_compose "${clean[@]}" 2>"$errors" || { grep '^error' "$errors" >&2; exit 2; }
    return
  fi
  if [[ -f "$run_dir/done.json" && "${OVERWRITE:-0}" != 1 ]]; then
    echo "[skip] $run_dir is complete (done.json); OVERWRITE=1 reruns it"; return 0
  fi
  # a bad key fails here, in seconds, before Ray starts
  env "${env[@]}" "$PY" -m patches.verl_compose "${clean[@]}" >/dev/null 2>"$errors" || { grep '^error' "$errors" >&2; exit 2; }
  if [[ "$SCALE" == tiny && ! -f "$MODEL/config.json" ]]; then
    if [[ "$MODEL" != "$("$PY" -m redit.tiny_policy --path-only)" ]]; then
      echo "error: no model at MODEL=$MODEL (config.json missing); unset MODEL to use the tiny policy" >&2; exit 2
    fi
    "$PY" -m redit.tiny_policy >/dev/null  # first use: SFT warm-up of the default tiny policy (~85 s)
  fi
  if [[ ! -f "$DATA_ROOT/$TASK/train.parquet" ]]; then
    # shellcheck disable=SC2086  # DATA_LIMITS is a list of flags
    "$PY" -m patches.verl_data --task "$DATA_TASK" --out "$DATA_ROOT/$TASK" ${DATA_LIMITS:-}
  fi
  mkdir -p "$run_dir"
  env "${env[@]}" "$PY" -m verl.trainer.main_ppo "${clean[@]}" 2>&1 | tee "$run_dir/verl.log"
}
