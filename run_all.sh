#!/usr/bin/env bash
# Reproduce the main comparison at the embedded default (tiny scale, CPU):
#   GRPO vs ReDit-Gaussian vs ReDit-uniform (matched noise std 0.05) x 3 seeds, then the analysis
#   (Figure 1 and the main table) into results/<scale>/.
# Resumable: finished runs are skipped when it is run again (Ctrl-C and rerun to continue).
set -euo pipefail
cd "$(dirname "$0")"

SCALE=tiny
SEEDS="0 1 2"
STEPS=150
JOBS=$(nproc 2>/dev/null || echo 2)

usage() {
  cat <<USAGE
Usage: ./run_all.sh [--scale tiny] [--seeds "0 1 2"] [--steps N] [--jobs N]

  --scale   tiny (default; CPU, minutes). Paper scale runs through verl on a GPU cluster (experiments/).
  --seeds   seeds for every method (default: "$SEEDS")
  --steps   GRPO steps per run (default: $STEPS)
  --jobs    runs in parallel, one torch thread each (default: number of CPUs = $JOBS)

Writes runs/<scale>/<method>-s<seed>/ (config.json, metrics.jsonl) and results/<scale>/ (Figure 1,
accuracy vs step, gradient-norm distributions, the main table as .md/.tex/.csv, paper_vs_repo.md and a
README indexing them; see python -m redit.analysis --help). The environment is created in .venv/ if missing.
USAGE
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --seeds) SEEDS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown option $1 (see ./run_all.sh --help)" >&2; exit 2 ;;
  esac
done
if [[ "$SCALE" != "tiny" ]]; then
  echo "error: --scale $SCALE is not available yet; only --scale tiny runs here (paper scale: the verl recipes)." >&2
  exit 2
fi

source scripts/ensure_venv.sh
PY=.venv/bin/python
RUNS="runs/$SCALE"
OUT="results/$SCALE"
start=$(date +%s)

echo "[run_all] 1/3 tiny policy (SFT warm-up, cached in checkpoints/)"
$PY -m redit.tiny_policy --threads "$JOBS"

echo "[run_all] 2/3 training: methods grpo, redit-gaussian, redit-uniform x seeds $SEEDS, $STEPS steps"
# shellcheck disable=SC2086
$PY -m redit.sweep --runs "$RUNS" --seeds $SEEDS --steps "$STEPS" --jobs "$JOBS"

echo "[run_all] 3/3 analysis -> $OUT"
$PY -m redit.analysis --scale "$SCALE" --runs "$RUNS" --out "$OUT"
echo "[run_all] finished in $(( $(date +%s) - start ))s"
