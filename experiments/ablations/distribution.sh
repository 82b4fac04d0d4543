#!/usr/bin/env bash
# Noise shape at matched standard deviation 0.1: Gaussian std 0.1, uniform a = 0.1*sqrt(3), Laplace b = 0.1/sqrt(2).
#   experiments/ablations/distribution.sh [--dry-run]  (SEEDS, TASK, RUNS and recipe variables from the env)
source "$(dirname "$0")/grid.sh" "$@"
grid_run gaussian METHOD=redit-gaussian SIGMA=0.1
grid_run uniform METHOD=redit-uniform SIGMA=0.173205
grid_run laplace METHOD=redit-laplace SIGMA=0.0707107
