#!/usr/bin/env bash
# Sigma over steps (Gaussian): constant, decay to 0 (linear, cosine, exponential, step), linear increase from 0.
# The variants are redit/registry.py's "schedule" entry (python -m redit.registry verl-grid schedule), each run through experiments/$TASK/run.sh.
#   experiments/ablations/schedule.sh [--dry-run]      (SEEDS, TASK, RUNS and recipe variables from the env)
source "$(dirname "$0")/../common.sh"
exec "$PY" -m patches.verl_recipe grid schedule "$@"
