#!/usr/bin/env bash
# Noise scale: the registry's sigma grid, Gaussian (std) and uniform (half-width a), plus GRPO (sigma 0).
# The variants are redit/registry.py's "variance" entry (python -m redit.registry verl-grid variance), each run through experiments/$TASK/run.sh.
#   experiments/ablations/variance.sh [--dry-run]      (SEEDS, TASK, RUNS and recipe variables from the env)
source "$(dirname "$0")/../common.sh"
exec "$PY" -m patches.verl_recipe grid variance "$@"
