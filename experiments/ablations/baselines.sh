#!/usr/bin/env bash
# Baselines: each algorithm with and without ReDit (Gaussian, std 0.1) on GSM8K, 3 seeds.
#   experiments/ablations/baselines.sh [--dry-run]      (SEEDS, TASK, RUNS and recipe variables from the env)
# DAPO: dynamic sampling on the raw accuracy + clip-higher + overlong penalty; REAL: the `real` loss.
source "$(dirname "$0")/grid.sh" "$@"
ALGORITHMS="dr_grpo dapo reinforce_plus_plus real"
SIGMA=0.1
for algorithm in $ALGORITHMS; do
  grid_run "$algorithm-grpo" ALGORITHM="$algorithm" METHOD=grpo
  grid_run "$algorithm-redit-gaussian" ALGORITHM="$algorithm" METHOD=redit-gaussian SIGMA="$SIGMA"
done
