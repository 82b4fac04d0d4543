#!/usr/bin/env bash
# Adaptive sigma (new): sigma set every step by redit/adaptive_sigma.py's controller toward a target
# flip rate or gradient-norm band (ADAPTIVE=flip_rate|grad_norm, from the registry's initial Gaussian sigma), GRPO alongside.
# The variants are redit/registry.py's "adaptive" entry (python -m redit.registry verl-grid adaptive), each run through experiments/$TASK/run.sh.
#   experiments/ablations/adaptive.sh [--dry-run]      (SEEDS, TASK, RUNS and recipe variables from the env)
source "$(dirname "$0")/../common.sh"
exec "$PY" -m patches.verl_recipe grid adaptive "$@"
