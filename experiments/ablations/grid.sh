# Sourced by the ablation recipes in this folder (not run directly). The grid of an ablation is its
# entry in redit/registry.py (the one definition of every experiment): `registry_grid` runs each of
# its verl variants (`python -m redit.registry verl-grid <ablation>`: METHOD, ALGORITHM, SIGMA,
# SCHEDULE, SCOPE, ...) through `grid_run <label> [VAR=value ...]`, which runs experiments/$TASK/run.sh
# once per seed in SEEDS, into $RUNS/<ablation>/<task>-<label>-s<seed>; --dry-run only prints.
#   SEEDS  (default "0 1 2")   TASK (default gsm8k, the paper's Figure 1 setting)   RUNS (default runs/paper)
# Every other recipe variable (MODEL, STEPS, TRAIN_BATCH, SCALE=tiny, ...) passes through the environment.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ABLATION="${ABLATION:-$(basename "$0" .sh)}"  # the recipe's file name, or ABLATION=<name> for experiment.sh
PY="${PY:-$ROOT/.venv/bin/python}"
: "${SEEDS:=0 1 2}" "${TASK:=gsm8k}" "${RUNS:=$ROOT/runs/paper}"
GRID_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --dry-run) GRID_ARGS+=(--dry-run) ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "error: unknown option '$arg'; ablation recipes take --dry-run, and variables from the environment (SEEDS=\"0 1\" TASK=math ...)" >&2; exit 2 ;;
  esac
done

grid_run() {  # grid_run <label> [VAR=value ...]
  local label="$1"; shift
  for seed in $SEEDS; do
    env DRY_RUN_CONFIG="${DRY_RUN_CONFIG:-0}" REDIT_EXPERIMENT="$ABLATION" "$@" SEED="$seed" RUN_DIR="$RUNS/$ABLATION/$TASK-$label-s$seed" \
      bash "$ROOT/experiments/$TASK/run.sh" "${GRID_ARGS[@]}"
  done
}

registry_grid() {  # every verl variant of this ablation, as the registry defines it
  local lines label vars
  lines="$("$PY" -m redit.registry verl-grid "$ABLATION")" || exit 2
  while read -r label vars; do
    # shellcheck disable=SC2086
    grid_run "$label" $vars
  done <<< "$lines"
}
