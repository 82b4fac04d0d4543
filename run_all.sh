#!/usr/bin/env bash
# Reproduce every table at the embedded default (tiny scale, CPU), or launch / print the paper-scale
# verl grid. The experiments, their variants and default seeds/steps are redit/registry.py's
# (./run_all.sh --help lists them), then the analysis (python -m analysis) writes results/<scale>/.
# Resumable: finished runs are skipped when it is run again (Ctrl-C and rerun to continue).
set -euo pipefail
cd "$(dirname "$0")"

# The interpreter: $PY when set (a cluster's own environment: PY=python ./run_all.sh --scale paper ...; nothing
# is installed), else .venv/bin/python, created by scripts/ensure_venv.sh only when a command needs it. The
# registry (experiment names, --help) needs no torch: without a venv it is read with the system python3.
USER_PY="${PY:-}"
need_python() {  # the project's interpreter, installing .venv only when no PY was given
  if [[ -n "$USER_PY" ]]; then
    command -v "$USER_PY" >/dev/null || { echo "error: PY=$USER_PY is not a Python on PATH" >&2; exit 2; }
  else
    [[ -x .venv/bin/python ]] || source scripts/ensure_venv.sh
  fi
}
REGISTRY_PY="${USER_PY:-.venv/bin/python}"
[[ -n "$USER_PY" || -x .venv/bin/python ]] || REGISTRY_PY=python3
registry() { "$REGISTRY_PY" -m redit.registry "$@"; }
SCALE=tiny; SEEDS=""; STEPS=""; ABL_SEEDS=""; ABL_STEPS=""; ONLY=""; QUICK=0; DRY_RUN=0; RUNS=""; OUT=""; LAUNCHER=local
PARTITION=""; ACCOUNT=""; MAX_CONCURRENT=""
JOBS=$(nproc 2>/dev/null || echo 2)

usage() {
  cat <<USAGE
Usage: ./run_all.sh [--scale tiny|paper] [--quick] [--only EXPERIMENT[,...]] [--seeds "0 1 2"]
                    [--steps N] [--ablation-seeds "..."] [--ablation-steps N] [--jobs N]
                    [--runs DIR] [--out DIR] [--launcher local|slurm|ray] [--dry-run]
                    [--partition NAME] [--account NAME] [--max-concurrent N]

  --scale           tiny (default; CPU, TRL backend) | paper (the verl recipes on a GPU cluster)
  --quick           one seed, 5 steps per run, 200 validation problems (not 1000), into runs/<scale>-quick
                    and results/<scale>-quick: a smoke run of the whole pipeline
  --only            run just these experiments (below); the analysis still covers every run under --runs
  --seeds           seeds of every experiment (default: each experiment's own, below)
  --steps           steps of every run (default: each experiment's own, below)
  --ablation-seeds  seeds of the experiments other than main (default: --seeds, else their own)
  --ablation-steps  steps of the experiments other than main (default: --steps, else their own)
  --jobs            tiny runs in parallel, one torch thread each (default: CPUs = $JOBS)
  --runs, --out     run folders and results (default runs/<scale>, results/<scale>)
  --launcher        with --scale paper: local (default; one run after another here) | slurm (sbatch
                    arrays, one task per run, resources from the recipes) | ray (ray job submit per
                    run); see python -m redit.launch --help
  --partition       with --launcher slurm: sbatch --partition of every array
  --account         with --launcher slurm: sbatch --account (the allocation charged)
  --max-concurrent  with --launcher slurm: at most N tasks of an array at once (--array=0-K%N); alias --max-parallel
  --dry-run         with --scale paper: print every verl command (local) or the job files and
                    submit commands (slurm, ray); run and write nothing

Tiny scale writes runs/tiny/<experiment>/<variant>-s<seed>/ (main included; config.json names both),
each with config.json and metrics.jsonl, then results/tiny/ (every table as .md/.tex/.csv, the
figures, paper_vs_repo.md and a README indexing them; see python -m analysis --help).
Paper scale: the main table on each task of the registry's main entry and the GSM8K ablations, as experiments/ recipes
(variables from the environment, e.g. MODEL=... TRAIN_BATCH=...). The environment is created in
.venv/ if missing, when a run needs it (not for --help); PY=python uses that interpreter instead and
installs nothing (a cluster's environment, see environment.yml).

Experiments (redit/registry.py):
USAGE
  registry list 2>/dev/null || echo "  (listing them needs numpy in $REGISTRY_PY: python3 -m pip install numpy, or source scripts/ensure_venv.sh)"
}

for arg in "$@"; do  # the help installs nothing and needs no venv
  [[ "$arg" == -h || "$arg" == --help ]] && { usage; exit 0; }
done
if ! EXPERIMENTS="$(registry names 2>/dev/null)"; then  # e.g. a system python3 without numpy
  need_python; REGISTRY_PY="${USER_PY:-.venv/bin/python}"; EXPERIMENTS="$(registry names)"
fi
DEFAULT_GRID="$(registry names --default-grid)"   # the long studies run with --only
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale|--only|--seeds|--steps|--ablation-seeds|--ablation-steps|--jobs|--runs|--out|--launcher|--partition|--account|--max-concurrent|--max-parallel)
      [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || { echo "error: $1 needs a value (see ./run_all.sh --help)" >&2; exit 2; } ;;
  esac
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --only) ONLY="${2//,/ }"; shift 2 ;;
    --seeds) SEEDS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --ablation-seeds) ABL_SEEDS="$2"; shift 2 ;;
    --ablation-steps) ABL_STEPS="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --launcher) LAUNCHER="$2"; shift 2 ;;
    --partition) PARTITION="$2"; shift 2 ;;
    --account) ACCOUNT="$2"; shift 2 ;;
    --max-concurrent|--max-parallel) MAX_CONCURRENT="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown option $1 (see ./run_all.sh --help)" >&2; exit 2 ;;
  esac
done
case "$SCALE" in tiny|paper) ;; *) echo "error: --scale must be tiny or paper, got '$SCALE'" >&2; exit 2 ;; esac
case "$LAUNCHER" in local|slurm|ray) ;; *) echo "error: --launcher must be local, slurm or ray, got '$LAUNCHER'" >&2; exit 2 ;; esac
if [[ "$LAUNCHER" != local && "$SCALE" != paper ]]; then
  echo "error: --launcher $LAUNCHER launches the paper-scale verl recipes; add --scale paper (tiny scale runs here, on the CPU)" >&2; exit 2
fi
for e in $ONLY; do
  [[ " $EXPERIMENTS " == *" $e "* ]] || { echo "error: --only $e is not an experiment; choose from: $EXPERIMENTS" >&2; exit 2; }
done
for n in "$JOBS" ${STEPS:+"$STEPS"} ${ABL_STEPS:+"$ABL_STEPS"} ${MAX_CONCURRENT:+"$MAX_CONCURRENT"}; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "error: --jobs, --steps and --max-concurrent take a whole number >= 1, got '$n'" >&2; exit 2; }
done
if [[ -n "$PARTITION$ACCOUNT$MAX_CONCURRENT" && ( "$SCALE" != paper || "$LAUNCHER" != slurm ) ]]; then
  echo "error: --partition, --account and --max-concurrent are sbatch options: use them with --scale paper --launcher slurm" >&2; exit 2
fi
for s in $SEEDS $ABL_SEEDS; do
  [[ "$s" =~ ^[0-9]+$ ]] || { echo "error: --seeds takes whole numbers, e.g. --seeds \"0 1 2\"; got '$s'" >&2; exit 2; }
done
# A partial grid (other seeds/steps, or only some experiments) never writes over the committed
# results/<scale>/: its runs and results go to <scale>-partial unless --runs/--out say otherwise.
if (( ! QUICK )) && [[ -n "$SEEDS$STEPS$ABL_SEEDS$ABL_STEPS$ONLY" ]]; then
  [[ -n "$SEEDS$STEPS$ABL_SEEDS$ABL_STEPS" ]] && RUNS="${RUNS:-runs/$SCALE-partial}"
  if [[ -z "$OUT" ]]; then
    OUT="results/$SCALE-partial"
    echo "[run_all] partial grid: results go to $OUT (results/$SCALE holds the full default grid; pass --out to choose)"
  fi
fi
if (( QUICK )); then
  SEEDS="${SEEDS:-0}"; STEPS="${STEPS:-5}"; RUNS="${RUNS:-runs/$SCALE-quick}"; OUT="${OUT:-results/$SCALE-quick}"
fi
MAIN_SEEDS="$SEEDS"; MAIN_STEPS="$STEPS"
ABL_SEEDS="${ABL_SEEDS:-$SEEDS}"; ABL_STEPS="${ABL_STEPS:-$STEPS}"
RUNS="${RUNS:-runs/$SCALE}"; OUT="${OUT:-results/$SCALE}"
SELECTED="${ONLY:-$DEFAULT_GRID}"

if [[ "$SCALE" == paper ]]; then
  # Main: every task x method; every other experiment on GSM8K (the paper's Figure 1 setting): each run
  # through its task recipe experiments/<task>/run.sh (patches/verl_recipe.py grid, from the registry).
  # With --launcher slurm|ray the recipes only list their runs (LAUNCH_LIST) and python -m redit.launch submits them.
  need_python
  PY="${USER_PY:-.venv/bin/python}"; export PY   # the recipes (experiments/common.sh, patches/verl_recipe.py) read PY too
  [[ "$RUNS" == /* ]] || RUNS="$PWD/$RUNS"
  flag=(); [[ "$LAUNCHER" == local ]] && (( DRY_RUN )) && flag=(--dry-run)
  if [[ "$LAUNCHER" != local ]]; then
    export LAUNCH_LIST; LAUNCH_LIST="$(mktemp)"
    trap 'rm -f "$LAUNCH_LIST"' EXIT  # also when sbatch / ray is missing and the submit fails
  fi
  for e in $SELECTED; do
    case "$e" in
      # the main table: each of the registry's paper tasks x variants x seeds (patches/verl_recipe.py grid)
      main) env -u TASK SEEDS="$MAIN_SEEDS" RUNS="$RUNS" DRY_RUN_CONFIG=0 "$PY" -m patches.verl_recipe grid main "${flag[@]}" ;;
      *) if ! "$PY" -m redit.registry verl-grid "$e" >/dev/null 2>&1; then
           echo "# $e: TRL backend only (no verl variant in redit/registry.py); run it with ./run_all.sh --only $e"; continue
         fi
         # its verl variants (GSM8K and the registry's paper seeds unless TASK / --ablation-seeds say otherwise)
         SEEDS="$ABL_SEEDS" RUNS="$RUNS" "$PY" -m patches.verl_recipe grid "$e" "${flag[@]}" ;;
    esac
  done
  if [[ "$LAUNCHER" != local ]]; then
    launch=(--launcher "$LAUNCHER" --list "$LAUNCH_LIST" --out "$RUNS/launch"); (( DRY_RUN )) && launch+=(--dry-run)
    [[ -n "$PARTITION" ]] && launch+=(--partition "$PARTITION")
    [[ -n "$ACCOUNT" ]] && launch+=(--account "$ACCOUNT")
    [[ -n "$MAX_CONCURRENT" ]] && launch+=(--max-concurrent "$MAX_CONCURRENT")
    "$PY" -m redit.launch submit "${launch[@]}"; rm -f "$LAUNCH_LIST"
    echo "# when the runs are done: $PY -m analysis --scale paper --runs $RUNS --out $OUT"
    exit 0
  fi
  (( DRY_RUN )) || "$PY" -m analysis --scale paper --runs "$RUNS" --out "$OUT"
  exit 0
fi
if (( DRY_RUN )); then
  echo "error: --dry-run is for --scale paper; at tiny scale list the runs with: .venv/bin/python -m redit.sweep --list ..." >&2; exit 2
fi

if [[ -n "$USER_PY" ]]; then need_python; PY="$USER_PY"; else source scripts/ensure_venv.sh; PY=.venv/bin/python; fi
start=$(date +%s)
echo "[run_all] 1/3 tiny policy (SFT warm-up, cached in checkpoints/)"
$PY -m redit.tiny_policy --threads "$JOBS"
echo "[run_all] 2/3 training: $SELECTED -> $RUNS (seeds: ${SEEDS:-registry defaults}; steps: ${STEPS:-registry defaults})"
sweep_args=()
[[ -n "$MAIN_SEEDS" ]] && sweep_args+=(--seeds $MAIN_SEEDS)
[[ -n "$MAIN_STEPS" ]] && sweep_args+=(--steps "$MAIN_STEPS")
[[ -n "$ABL_SEEDS" ]] && sweep_args+=(--ablation-seeds $ABL_SEEDS)
[[ -n "$ABL_STEPS" ]] && sweep_args+=(--ablation-steps "$ABL_STEPS")
(( QUICK )) && sweep_args+=(--train-args "--val-problems 200")  # validation is most of a 5-step run
# shellcheck disable=SC2086
REDIT_DIE_WITH_PARENT=1 $PY -m redit.sweep --runs "$RUNS" --experiments $SELECTED "${sweep_args[@]}" --jobs "$JOBS"
echo "[run_all] 3/3 analysis -> $OUT (and a compact copy of the runs in $OUT/runs, read by the notebooks)"
$PY -m analysis --scale "$SCALE" --runs "$RUNS" --out "$OUT"
$PY -m analysis --runs "$RUNS" --export-runs "$OUT/runs"
echo "[run_all] finished in $(( $(date +%s) - start ))s"
