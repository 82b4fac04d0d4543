# Sourced by every recipe in experiments/ (not run directly); the recipe sets TASK and DATA_TASK first.
# Usage:  experiments/<task>/<method>.sh [--dry-run] [hydra.override=value ...]    (variables from the env)
#   --dry-run     print the environment, the full verl command and the resolved verl config; run nothing
#   key=value     extra Hydra overrides, appended LAST (they win over everything the recipe sets):
#                 experiments/gsm8k/grpo.sh --dry-run trainer.val_before_train=False
#   SCALE=paper   (default) the recipe's paper-scale values: real model, vLLM rollout, GPUs
#   SCALE=smoke   one GPU node check before a long job: 1 GPU, the tiny policy (MODEL=... for another),
#                 16 prompts x 8 samples, 4 steps, 256/64 data rows; the `hf` rollout when vLLM is not
#                 installed, sdpa attention when flash-attn is not (../shared/notes/gpu-device.md)
#   SCALE=tiny    the same recipe on a CPU: the tiny policy, 4 prompts x 4 samples, 3 steps,
#                 verl's CPU mode (patches/verl_cpu.py, the `hf` rollout), 64/16 data rows
#   METHOD        grpo | redit-gaussian | redit-uniform | redit-laplace (the method wrappers set it)
#   ALGORITHM     grpo (default) | dr_grpo | dapo | reinforce_plus_plus | rloo | real | filter | refill |
#                 directional_fill: what ReDit wraps
#                 dr_grpo = no std division + loss_agg_mode=seq-mean-token-sum-norm (Dr.GRPO, arXiv 2503.20783)
#                 reinforce_plus_plus = verl's estimator + the token-level k1 KL in the reward (RPP_KL_COEF)
#                 dapo = GRPO + dynamic sampling on the raw acc + clip-higher 0.2/0.28 + token-mean
#                 loss + the dapo reward manager's overlong penalty (last quarter of MAX_RESPONSE);
#                 real = the redit_real estimator + the `real` policy loss (patches/redit_verl.py)
#                 filter / refill / directional_fill = the remedies for saturated groups (redit/algorithms.py):
#                 filter = +algorithm.redit_remedy.filter (saturated groups out, loss renormalised);
#                 refill = verl's DAPO dynamic sampling alone (algorithm.filter_groups on the raw acc, at
#                 most REFILL_MAX_DRAWS generation batches, default 5); directional_fill =
#                 +algorithm.redit_remedy.fill_strength=FILL_STRENGTH (default 0.1)
#   GROUP_SCALE   k: ROLLOUT_N x k with TRAIN_BATCH and MINI_BATCH / k (a larger group at equal samples)
#   REAL_LABELS   dithered (default) | raw: REAL's label source (redit/algorithms.py real_labels)
#   SCOPE         all (default) | zero_var | mixed: which prompt groups get noise (by raw rewards)
#   ADAPTIVE      flip_rate | grad_norm: adaptive sigma (redit/adaptive_sigma.py) from SIGMA; ADAPTIVE_SETPOINT
#   REWARD_STYLE  paper (default for gsm8k and math at paper/smoke scale: the released code's 5-part /
#                 3-part reward and <reasoning>/<answer> resp. \boxed{} prompt) | binary (0/1 correctness,
#                 verl's prompt; the only style of geo3k, mbpp, and of SCALE=tiny); PROMPT_STYLE=verl|paper
#                 overrides the prompt alone
#   REWARD        redit (default: the project's gold-checked scorers) | verl (verl's built-in scorer, binary)
#   SAVE_FREQ     checkpoint every K steps (paper scale 50; -1 none); a relaunched recipe resumes from
#                 the latest one (trainer.resume_mode=auto); KEEP_CHECKPOINTS (default 2) are kept
#   LOGGERS       verl loggers, comma-separated (default console,file; add wandb to opt in; `file` is
#                 always kept: it writes the run folder's metrics.jsonl)
#   LAUNCH_LIST   a file: append this run as a job line (JSON, for python -m redit.launch); run nothing
#   DRY_RUN_CONFIG=0  with --dry-run: print only the command (no composed config)
#   SIGMA SEED STEPS RUN_DIR OVERWRITE=1 ...  any recipe variable, from the environment
# and the function `launch_verl [extra overrides...]` that turns the recipe's variables (TASK MODEL
# STEPS TRAIN_BATCH MINI_BATCH ROLLOUT_N LR CLIP_GRAD WEIGHT_DECAY BETAS WARMUP_RATIO LR_SCHEDULER
# TEMPERATURE MAX_PROMPT MAX_RESPONSE TP GPUS_PER_NODE NNODES TEST_FREQ) into verl overrides, adds
# the method, machine, checkpoint and logging overrides, prepares the data, refuses to overwrite a
# finished run, resumes an unfinished one, and starts `python -m verl.trainer.main_ppo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
DRY_RUN=0; EXTRA_OVERRIDES=()
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$ROOT/experiments/common.sh" | sed '$d'; exit 0 ;;
    -*|[!a-z+~]*) echo "error: unknown option '$arg'; recipes take --dry-run, Hydra overrides key=value, and variables from the environment (SCALE=tiny SEED=1 ...)" >&2; exit 2 ;;
    *=*) EXTRA_OVERRIDES+=("$arg") ;;
    *) echo "error: unknown option '$arg'; recipes take --dry-run, Hydra overrides key=value, and variables from the environment (SCALE=tiny SEED=1 ...)" >&2; exit 2 ;;
  esac
done
if ! command -v "$PY" >/dev/null; then
  echo "error: no Python at $PY; run ./run_tests.sh --co -q once (it creates .venv), or on a cluster set PY=python (see environment.yml)" >&2; exit 2
fi
: "${TASK:?a recipe sets TASK before sourcing common.sh}"
SCALE="${SCALE:-paper}"
case "$SCALE" in paper|smoke|tiny) ;; *) echo "error: SCALE must be paper, smoke or tiny, got '$SCALE'" >&2; exit 2 ;; esac
METHOD="${METHOD:-grpo}"
SEED="${SEED:-0}"
DATA_ROOT="${DATA_ROOT:-$ROOT/data/verl/$SCALE}"
has_module() { "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null; }

# The tiny and smoke presets are applied first, so they win over the recipe's `: "${VAR:=paper value}"` lines.
if [[ "$SCALE" == tiny ]]; then
  : "${MODEL:=$("$PY" -m redit.tiny_policy --path-only)}"
  : "${TRAIN_BATCH:=4}" "${MINI_BATCH:=4}" "${ROLLOUT_N:=4}" "${STEPS:=3}" "${TEST_FREQ:=3}" "${SAVE_FREQ:=-1}"
  : "${MAX_PROMPT:=192}" "${MAX_RESPONSE:=32}" "${LR:=1e-5}" "${GPUS_PER_NODE:=1}" "${NNODES:=1}" "${TP:=1}"
  : "${CLIP_GRAD:=1.0}" "${EST_STEP_SECONDS:=2}"
  : "${REWARD_STYLE:=binary}"   # the tiny policy was warmed up on the `#### N` format
  : "${DATA_LIMITS:=--limit-train 64 --limit-test 16 --test-as-train}"
elif [[ "$SCALE" == smoke ]]; then  # ../shared/notes/gpu-device.md: 13-24 s/step on one H100 with the hf rollout
  : "${MODEL:=$("$PY" -m redit.tiny_policy --path-only)}"
  : "${TRAIN_BATCH:=16}" "${MINI_BATCH:=16}" "${ROLLOUT_N:=8}" "${STEPS:=4}" "${TEST_FREQ:=4}" "${SAVE_FREQ:=2}"
  : "${MAX_PROMPT:=256}" "${MAX_RESPONSE:=48}" "${LR:=1e-5}" "${GPUS_PER_NODE:=1}" "${NNODES:=1}" "${TP:=1}"
  : "${EST_STEP_SECONDS:=25}"
  : "${DATA_LIMITS:=--limit-train 256 --limit-test 64 --test-as-train}"
fi

# The hyperparameters of the paper's released code family (../shared/notes/paper.md: a widely copied
# TRL GRPO demo that kithib/ReDit's grpo_gsm8k.py / grpo_math.py derive from; NOT confirmed as the
# paper's own values). gsm8k/run.sh and math/run.sh call this; each line says where a value comes from.
released_code_hyperparameters() {
  : "${ROLLOUT_N:=16}"                 # released code family: 16 generations per prompt
  : "${LR:=5e-6}"                      # released code family
  : "${CLIP_GRAD:=0.1}"                # released code family: max_grad_norm 0.1
  : "${WEIGHT_DECAY:=0.1}"             # released code family
  : "${BETAS:=[0.9,0.99]}"             # released code family: AdamW betas
  : "${WARMUP_RATIO:=0.1}"             # released code family
  : "${LR_SCHEDULER:=cosine}"          # released code family
  : "${MAX_PROMPT:=256}" "${MAX_RESPONSE:=786}"   # released code family (longer prompts are filtered out)
  # Small per-step batches, as in the released code family, whose exact prompts per optimiser step
  # are unknown here: 16 prompts x 16 samples = 256 responses per step (ours; verl's example: 1024 x 5,
  # with which a step's gradient can never vanish, so Figure 1 could not be reproduced).
  : "${TRAIN_BATCH:=16}"
  : "${MINI_BATCH:=16}"                # one optimiser update per step (on-policy, one iteration; ours)
  : "${TEMPERATURE:=1.0}"              # unknown here (verl's default)
  : "${REWARD_STYLE:=paper}"           # the released code's reward (../shared/notes/paper.md)
  # Unknown here and left at our defaults: KL (none, as the TRL backend), epochs (STEPS bounds the run).
}

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
  grpo|dapo|filter|refill|directional_fill) ADV=redit_grpo ;;
  dr_grpo)             ADV=redit_grpo; NORM_STD=False ;;
  reinforce_plus_plus) ADV=redit_reinforce_plus_plus ;;
  rloo)                ADV=redit_rloo ;;
  real)                ADV=redit_real ;;
  *) echo "error: ALGORITHM must be grpo, dr_grpo, dapo, reinforce_plus_plus, rloo, real, filter, refill or directional_fill; got '$ALGORITHM'" >&2; exit 2 ;;
esac
: "${SIGMA:=0.0}" "${SCHEDULE:=constant}" "${SIGMA_END:=0.0}" "${SCOPE:=all}" "${REAL_LABELS:=dithered}"
: "${ADAPTIVE:=none}" "${ADAPTIVE_SETPOINT:=}"
: "${REFILL_MAX_DRAWS:=5}" "${FILL_STRENGTH:=0.1}" "${GROUP_SCALE:=1}"   # redit/algorithms.py REFILL_MAX_DRAWS, FILL_STRENGTH
case "$ADAPTIVE" in none|flip_rate|grad_norm) ;; *) echo "error: ADAPTIVE must be none, flip_rate or grad_norm; got '$ADAPTIVE'" >&2; exit 2 ;; esac
# REINFORCE++'s KL-in-reward coefficient: verl's algorithm.kl_ctrl.kl_coef default (0.001, also the KL
# coefficient of verl's examples/reinforce_plus_plus_trainer script, which applies it as a loss); the
# REINFORCE++ paper's (arXiv 2501.03262) own beta is not known here.
: "${RPP_KL_COEF:=0.001}"
: "${SAVE_FREQ:=50}" "${KEEP_CHECKPOINTS:=2}" "${LOGGERS:=console,file}" "${PROJECT:=redit}"

HF_ROLLOUT_FSDP2_FP32=(  # the `hf` rollout (patches/hf_rollout.py) with FSDP2 in fp32: the CPU and the smoke-test GPU share it
  actor_rollout_ref.rollout.name=hf
  actor_rollout_ref.actor.strategy=fsdp2
  actor_rollout_ref.actor.fsdp_config.strategy=fsdp2
  actor_rollout_ref.actor.fsdp_config.use_torch_compile=False
  +actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=fp32
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16
)
CPU_OVERRIDES=(
  "${HF_ROLLOUT_FSDP2_FP32[@]}"
  +actor_rollout_ref.model.override_config.attn_implementation=sdpa
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
# SCALE=smoke on a GPU without vLLM: the hf rollout (patches/hf_rollout.py) on CUDA, FSDP2, fp32 --
# what ran on an H100 (../shared/notes/gpu-device.md); sdpa attention where flash-attn is absent.
SMOKE_HF_OVERRIDES=(
  "${HF_ROLLOUT_FSDP2_FP32[@]}"
  transfer_queue.backend.SimpleStorage.num_data_storage_units=1
)

algorithm_overrides() {  # the overrides that make ALGORITHM on top of the estimator; needs MAX_RESPONSE
  case "$ALGORITHM" in
    # Dr.GRPO: no std division (NORM_STD) and no length normalisation: per-sequence token sums divided
    # by a constant, the generation budget MAX_RESPONSE (verl's loss_scale_factor)
    dr_grpo) echo actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm \
               actor_rollout_ref.actor.loss_scale_factor="$MAX_RESPONSE" ;;
    # REINFORCE++: r_t = 1[t = EOS] r - beta * log(pi_old / pi_ref) per token (k1), in the reward
    reinforce_plus_plus) echo algorithm.use_kl_in_reward=True algorithm.kl_penalty=kl \
               algorithm.kl_ctrl.type=fixed algorithm.kl_ctrl.kl_coef="$RPP_KL_COEF" \
               actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=16 ;;
    dapo) echo algorithm.filter_groups.enable=True algorithm.filter_groups.metric=acc \
            actor_rollout_ref.actor.clip_ratio_low=0.2 actor_rollout_ref.actor.clip_ratio_high=0.28 \
            actor_rollout_ref.actor.loss_agg_mode=token-mean reward.reward_manager.name=dapo \
            +reward.reward_kwargs.max_resp_len="$MAX_RESPONSE" +reward.reward_kwargs.overlong_buffer_cfg.enable=True \
            +reward.reward_kwargs.overlong_buffer_cfg.len="$(( MAX_RESPONSE / 4 ))" \
            +reward.reward_kwargs.overlong_buffer_cfg.penalty_factor=1.0 +reward.reward_kwargs.overlong_buffer_cfg.log=False ;;
    filter) echo +algorithm.redit_remedy.filter=True ;;
    refill) echo algorithm.filter_groups.enable=True algorithm.filter_groups.metric=acc \
              algorithm.filter_groups.max_num_gen_batches="$REFILL_MAX_DRAWS" ;;
    directional_fill) echo +algorithm.redit_remedy.fill_strength="$FILL_STRENGTH" ;;
    # whole prompt groups in each micro-batch, in order (the redit_sync trainer orders the batch by
    # group; the estimator checks they are contiguous)
    real) echo actor_rollout_ref.actor.policy_loss.loss_mode=real +algorithm.real.labels="$REAL_LABELS" \
            actor_rollout_ref.actor.shuffle=False actor_rollout_ref.actor.use_dynamic_bsz=False ;;
  esac
}

# Every variable a recipe run depends on: a launcher job (LAUNCH_LIST) records their resolved values,
# so the job reruns exactly this run wherever it is scheduled.
RECIPE_VARS=(SCALE METHOD ALGORITHM SIGMA NOISE_STD SCHEDULE SIGMA_END SCOPE ADAPTIVE ADAPTIVE_SETPOINT REAL_LABELS
  REFILL_MAX_DRAWS FILL_STRENGTH GROUP_SCALE
  RPP_KL_COEF SEED RUN_DIR MODEL STEPS TRAIN_BATCH MINI_BATCH ROLLOUT_N LR CLIP_GRAD WEIGHT_DECAY BETAS WARMUP_RATIO
  LR_SCHEDULER TEMPERATURE MAX_PROMPT MAX_RESPONSE TP GPUS_PER_NODE NNODES TEST_FREQ SAVE_FREQ KEEP_CHECKPOINTS
  LOGGERS PROJECT REWARD REWARD_STYLE PROMPT_STYLE DATA_ROOT DATA_LIMITS REDIT_EXPERIMENT)  # not PY: the cluster's own

check_recipe_vars() {  # one line naming the variable, before any work (a dry run included)
  local v
  for v in STEPS TRAIN_BATCH MINI_BATCH GPUS_PER_NODE NNODES TP MAX_PROMPT MAX_RESPONSE REFILL_MAX_DRAWS GROUP_SCALE; do
    [[ -z "${!v:-}" || "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "error: $v must be a whole number >= 1; got '${!v}'" >&2; exit 2; }
  done
  [[ -z "${ROLLOUT_N:-}" || ( "$ROLLOUT_N" =~ ^[0-9]+$ && "$ROLLOUT_N" -ge 2 ) ]] \
    || { echo "error: ROLLOUT_N must be a whole number >= 2 (group-normalised advantages need a group); got '$ROLLOUT_N'" >&2; exit 2; }
  [[ "$SEED" =~ ^[0-9]+$ ]] || { echo "error: SEED must be a whole number >= 0; got '$SEED'" >&2; exit 2; }
  for v in TEST_FREQ SAVE_FREQ; do  # verl: -1 = never
    [[ -z "${!v:-}" || "${!v}" =~ ^[1-9][0-9]*$ || "${!v}" == -1 ]] || { echo "error: $v must be a whole number >= 1, or -1 for never; got '${!v}'" >&2; exit 2; }
  done
  [[ "$KEEP_CHECKPOINTS" =~ ^[1-9][0-9]*$ ]] || { echo "error: KEEP_CHECKPOINTS must be a whole number >= 1; got '$KEEP_CHECKPOINTS'" >&2; exit 2; }
  if [[ -n "${MINI_BATCH:-}" && -n "${TRAIN_BATCH:-}" ]] && (( MINI_BATCH > TRAIN_BATCH )); then
    echo "error: MINI_BATCH=$MINI_BATCH exceeds TRAIN_BATCH=$TRAIN_BATCH (a mini-batch is a slice of the step's prompts); lower MINI_BATCH" >&2; exit 2
  fi
  local logger
  for logger in ${LOGGERS//,/ }; do
    case "$logger" in console|file|wandb|tensorboard|mlflow|swanlab|vemlp_wandb|clearml|trackio) ;;
      *) echo "error: LOGGERS has '$logger'; verl's loggers are console, file, wandb, tensorboard, mlflow, swanlab, vemlp_wandb, clearml, trackio" >&2; exit 2 ;;
    esac
  done
  case "${PROMPT_STYLE:-verl}" in verl|paper) ;; *) echo "error: PROMPT_STYLE must be verl or paper; got '$PROMPT_STYLE'" >&2; exit 2 ;; esac
  "$PY" - "${LR:-1}" "$SIGMA" "$FILL_STRENGTH" "${CLIP_GRAD:-1}" "${TEMPERATURE:-1}" <<'PYCHECK' || exit 2
import math, sys
lr, sigma, fill, clip, temperature = sys.argv[1:]
for name, text, ok, rule in (("LR", lr, lambda x: x > 0, "> 0"), ("SIGMA", sigma, lambda x: x >= 0, ">= 0"),
                             ("FILL_STRENGTH", fill, lambda x: x >= 0, ">= 0"), ("CLIP_GRAD", clip, lambda x: x > 0, "> 0"),
                             ("TEMPERATURE", temperature, lambda x: x > 0, "> 0")):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and ok(value)):
        sys.exit(print(f"error: {name} must be a finite number {rule}; got '{text}'", file=sys.stderr) or 2)
PYCHECK
  if [[ "$DIST" != none && "$ADAPTIVE" == none && "$SCHEDULE" == constant ]] && "$PY" -c "import sys; sys.exit(float('$SIGMA') != 0)"; then
    echo "error: METHOD=$METHOD with SIGMA=0 adds no noise; use METHOD=grpo for plain GRPO or set SIGMA" >&2; exit 2
  fi
  if [[ "$MODEL" == /* || "$MODEL" == .* ]] && [[ ! -f "$MODEL/config.json" && "$MODEL" != "$("$PY" -m redit.tiny_policy --path-only)" ]]; then
    echo "error: no model at MODEL=$MODEL (config.json missing); pass a model folder or a hub id (org/name)" >&2; exit 2
  fi
}

launch_verl() {  # launch_verl [extra hydra overrides of the recipe...]
  check_recipe_vars
  if (( GROUP_SCALE > 1 )); then  # a larger group at equal samples per step
    (( TRAIN_BATCH % GROUP_SCALE == 0 && MINI_BATCH % GROUP_SCALE == 0 )) \
      || { echo "error: GROUP_SCALE=$GROUP_SCALE must divide TRAIN_BATCH=$TRAIN_BATCH and MINI_BATCH=$MINI_BATCH" >&2; exit 2; }
    ROLLOUT_N=$(( ROLLOUT_N * GROUP_SCALE )); TRAIN_BATCH=$(( TRAIN_BATCH / GROUP_SCALE )); MINI_BATCH=$(( MINI_BATCH / GROUP_SCALE ))
    GROUP_SCALE=1  # applied: a launcher job records the resolved sizes, never scales twice
  fi
  local name="$METHOD-s$SEED"
  [[ "$ALGORITHM" == grpo ]] || name="$ALGORITHM-$name"
  [[ "$ADAPTIVE" == none ]] || name="adaptive-$ADAPTIVE-$name"
  local run_dir="${RUN_DIR:-$ROOT/runs/$SCALE-verl/$TASK/$name}"
  : "${CLIP_GRAD:=1.0}" "${WEIGHT_DECAY:=0.01}" "${BETAS:=[0.9,0.999]}" "${WARMUP_RATIO:=0.0}" "${LR_SCHEDULER:=constant}" "${TEMPERATURE:=1.0}"
  : "${REWARD_STYLE:=binary}" "${REWARD:=redit}"
  [[ "$SCALE" == tiny ]] && REWARD_STYLE=binary  # (a preset, not a choice: the tiny policy answers `#### N`)
  case "$REWARD_STYLE" in
    binary) : "${PROMPT_STYLE:=verl}" ;;
    paper) : "${PROMPT_STYLE:=paper}"
           [[ "$TASK" == gsm8k || "$TASK" == math ]] || { echo "error: REWARD_STYLE=paper exists for gsm8k and math only (the released code's rewards); use REWARD_STYLE=binary for $TASK" >&2; exit 2; }
           [[ "$REWARD" == redit ]] || { echo "error: REWARD=verl is verl's binary scorer; use REWARD_STYLE=binary with it" >&2; exit 2; } ;;
    *) echo "error: REWARD_STYLE must be paper or binary; got '$REWARD_STYLE'" >&2; exit 2 ;;
  esac
  local data_dir="$DATA_ROOT/$TASK/$PROMPT_STYLE"
  local plugins="patches.redit_verl" device=("${GPU_OVERRIDES[@]}") env=() micro=8
  if [[ "$SCALE" == tiny ]]; then
    plugins="patches.verl_cpu,$plugins"  # the platform plugin must come first
    device=("${CPU_OVERRIDES[@]}"); micro=16
    env=(VERL_PLATFORM=cpu VERL_ENGINE_DEVICE=cuda)
  elif [[ "$SCALE" == smoke ]]; then
    micro=16
    if ! has_module vllm; then plugins="patches.verl_cpu,$plugins"; device=("${SMOKE_HF_OVERRIDES[@]}"); fi
    has_module flash_attn || device+=(+actor_rollout_ref.model.override_config.attn_implementation=sdpa)
  fi
  # REAL scores whole groups: a micro-batch of whole groups (a multiple of ROLLOUT_N)
  [[ "$ALGORITHM" == real ]] && micro=$(( ROLLOUT_N * (micro / ROLLOUT_N > 0 ? micro / ROLLOUT_N : 1) ))
  env+=(VERL_USE_EXTERNAL_MODULES="$plugins" VERL_FILE_LOGGER_PATH="$run_dir/metrics.jsonl")
  [[ -n "${REDIT_EXPERIMENT:-}" ]] && env+=(REDIT_EXPERIMENT="$REDIT_EXPERIMENT")
  # the same variables in every Ray worker on every node of a cluster (a local Ray inherits them anyway)
  local forwarded=() kv
  for kv in "${env[@]}"; do  # quoted: a comma in a value would make a Hydra list
    forwarded+=("+ray_kwargs.ray_init.runtime_env.env_vars.${kv%%=*}='${kv#*=}'")
  done
  local loggers="[${LOGGERS//,/, }]"
  [[ ",$LOGGERS," == *,file,* ]] || loggers="[${LOGGERS//,/, }, file]"   # metrics.jsonl is the run folder
  local algorithm=() adaptive=()
  read -r -a algorithm <<< "$(algorithm_overrides)"
  if [[ "$ADAPTIVE" != none ]]; then
    adaptive=(+algorithm.redit_adaptive.target="$ADAPTIVE")
    [[ -n "$ADAPTIVE_SETPOINT" ]] && adaptive+=(+algorithm.redit_adaptive.setpoint="$ADAPTIVE_SETPOINT")
  fi
  local overrides=(
    # the experiment: from the recipe's variables
    data.train_files="$data_dir/train.parquet"
    data.val_files="$data_dir/test.parquet"
    data.train_batch_size="$TRAIN_BATCH"
    data.max_prompt_length="$MAX_PROMPT"
    data.max_response_length="$MAX_RESPONSE"
    data.filter_overlong_prompts=True
    actor_rollout_ref.model.path="$MODEL"
    actor_rollout_ref.actor.optim.lr="$LR"
    actor_rollout_ref.actor.optim.clip_grad="$CLIP_GRAD"
    actor_rollout_ref.actor.optim.weight_decay="$WEIGHT_DECAY"
    actor_rollout_ref.actor.optim.betas="$BETAS"
    actor_rollout_ref.actor.optim.lr_warmup_steps_ratio="$WARMUP_RATIO"
    actor_rollout_ref.actor.optim.lr_scheduler_type="$LR_SCHEDULER"
    actor_rollout_ref.actor.ppo_mini_batch_size="$MINI_BATCH"
    actor_rollout_ref.actor.use_kl_loss=False   # as in the TRL backend (beta = 0), DAPO and Dr.GRPO
    actor_rollout_ref.actor.entropy_coeff=0
    actor_rollout_ref.rollout.n="$ROLLOUT_N"
    actor_rollout_ref.rollout.temperature="$TEMPERATURE"
    actor_rollout_ref.rollout.tensor_model_parallel_size="$TP"
    trainer.n_gpus_per_node="$GPUS_PER_NODE"
    trainer.nnodes="$NNODES"
    trainer.total_training_steps="$STEPS"
    trainer.test_freq="$TEST_FREQ"
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
    "${adaptive[@]}"
    data.seed="$SEED"
    "${algorithm[@]}"
    # survival: checkpoints every SAVE_FREQ steps; a relaunch resumes from the latest
    trainer.save_freq="$SAVE_FREQ"
    trainer.resume_mode=auto
    trainer.max_actor_ckpt_to_keep="$KEEP_CHECKPOINTS"
    trainer.default_local_dir="$run_dir/checkpoints"
    trainer.logger="$loggers"
    trainer.project_name="$PROJECT"
    trainer.experiment_name="$TASK-$name"
    # the machine
    "${device[@]}"
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="$micro"
    "${forwarded[@]}"
  )
  if [[ "$REWARD" == redit ]]; then  # REWARD=verl: verl's built-in scorer for the data_source
    overrides+=(reward.custom_reward_function.path="$ROOT/patches/verl_reward.py" reward.custom_reward_function.name=compute_score
                +reward.custom_reward_function.reward_kwargs.style="$REWARD_STYLE")
  fi
  overrides+=("${EXTRA_OVERRIDES[@]}")  # the user's, last: Hydra keeps the last value of a key
  local clean=("${overrides[@]}") errors
  if [[ -n "${LAUNCH_LIST:-}" ]]; then  # a launcher job: this recipe again, every variable resolved
    local job=() v o
    RUN_DIR="$run_dir"
    for v in "${RECIPE_VARS[@]}"; do [[ -z "${!v:-}" ]] || job+=(--var "$v=${!v}"); done
    for o in "${EXTRA_OVERRIDES[@]}"; do job+=(--override "$o"); done
    "$PY" -m redit.launch add --list "$LAUNCH_LIST" --recipe "experiments/$TASK/run.sh" --run-dir "$run_dir" \
      --gpus-per-node "$GPUS_PER_NODE" --nnodes "$NNODES" --steps "$STEPS" --step-seconds "${EST_STEP_SECONDS:-60}" "${job[@]}"
    return
  fi
  errors="$(mktemp)"
  trap "rm -f '$errors'" EXIT  # (the value, not the name: $errors is local) no temporary file left behind
  if (( DRY_RUN )); then
    echo "# $TASK / $METHOD / $ALGORITHM / SCALE=$SCALE / seed $SEED / reward $REWARD_STYLE -> $run_dir"
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
  if [[ "$SCALE" != paper && ! -f "$MODEL/config.json" ]]; then
    if [[ "$MODEL" != "$("$PY" -m redit.tiny_policy --path-only)" ]]; then
      echo "error: no model at MODEL=$MODEL (config.json missing); unset MODEL to use the tiny policy" >&2; exit 2
    fi
    "$PY" -m redit.tiny_policy >/dev/null  # first use: SFT warm-up of the default tiny policy (~85 s)
  fi
  if [[ ! -f "$data_dir/train.parquet" ]]; then
    # shellcheck disable=SC2086  # DATA_LIMITS is a list of flags
    "$PY" -m patches.verl_data --task "$DATA_TASK" --style "$PROMPT_STYLE" --out "$data_dir" ${DATA_LIMITS:-}
  fi
  mkdir -p "$run_dir"
  [[ -d "$run_dir/checkpoints" ]] && echo "[resume] $run_dir: verl resumes from the latest checkpoint in $run_dir/checkpoints"
  env "${env[@]}" "$PY" -m verl.trainer.main_ppo "${clean[@]}" 2>&1 | tee -a "$run_dir/verl.log"
}
