#!/usr/bin/env bash
# Sigma over steps (Gaussian): decay from 0.1 to 0 (linear, cosine, exponential, step) and a linear
# increase from 0 to 0.1. Constant sigma 0.1 is the variance ablation's redit-gaussian-0.1 run.
#   experiments/ablations/schedule.sh [--dry-run]      (SEEDS, TASK, RUNS and recipe variables from the env)
source "$(dirname "$0")/grid.sh" "$@"
SIGMA=0.1
for schedule in linear cosine exponential step; do
  grid_run "$schedule" METHOD=redit-gaussian SIGMA="$SIGMA" SCHEDULE="$schedule" SIGMA_END=0
done
grid_run linear-increase METHOD=redit-gaussian SIGMA=0 SCHEDULE=linear SIGMA_END="$SIGMA"
