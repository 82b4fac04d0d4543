#!/usr/bin/env bash
# Noise shape at matched standard deviation (Gaussian / uniform / Laplace; sigma from dither.matched_sigma).
# The variants are redit/registry.py's "distribution" entry (python -m redit.registry verl-grid distribution), each run through experiments/$TASK/run.sh.
#   experiments/ablations/distribution.sh [--dry-run]      (SEEDS, TASK, RUNS and recipe variables from the env)
source "$(dirname "$0")/../common.sh"
exec "$PY" -m patches.verl_recipe grid distribution "$@"
