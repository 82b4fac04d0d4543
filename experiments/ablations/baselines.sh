#!/usr/bin/env bash
# Baselines: each algorithm with and without ReDit (Gaussian) on GSM8K. DAPO: dynamic sampling on the raw
# accuracy + clip-higher + overlong penalty; REAL: the `real` loss; REINFORCE++: verl's estimator.
# The variants are redit/registry.py's "baselines" entry (python -m redit.registry verl-grid baselines), each run through experiments/$TASK/run.sh.
#   experiments/ablations/baselines.sh [--dry-run]      (SEEDS, TASK, RUNS and recipe variables from the env)
source "$(dirname "$0")/../common.sh"
exec "$PY" -m patches.verl_recipe grid baselines "$@"
