#!/usr/bin/env bash
# Dithering scope (new): Gaussian noise 0.1 on all groups / only the raw all-equal (zero-variance)
# groups / only the mixed groups, separating ReDit's two mechanisms.
#   experiments/ablations/scope.sh [--dry-run]         (SEEDS, TASK, RUNS and recipe variables from the env)
source "$(dirname "$0")/grid.sh" "$@"
for scope in all zero_var mixed; do grid_run "$scope" METHOD=redit-gaussian SIGMA=0.1 SCOPE="$scope"; done
