#!/usr/bin/env bash
# Noise scale: sigma over the grid, Gaussian (std) and uniform (half-width a), plus GRPO (sigma 0).
#   experiments/ablations/variance.sh [--dry-run]      (SEEDS, TASK, RUNS and recipe variables from the env)
source "$(dirname "$0")/grid.sh" "$@"
SIGMAS="0.01 0.05 0.1 0.3 0.5"
grid_run grpo METHOD=grpo
for method in redit-gaussian redit-uniform; do
  for sigma in $SIGMAS; do grid_run "$method-$sigma" METHOD="$method" SIGMA="$sigma"; done
done
