#!/usr/bin/env bash
# Dithering scope (new): noise on all groups / only the raw all-equal (zero-variance) groups / only the
# mixed groups, separating ReDit's two mechanisms; GRPO alongside.
# The variants are redit/registry.py's "scope" entry (python -m redit.registry verl-grid scope), each run through experiments/$TASK/run.sh.
#   experiments/ablations/scope.sh [--dry-run]      (SEEDS, TASK, RUNS and recipe variables from the env)
source "$(dirname "$0")/../common.sh"
exec "$PY" -m patches.verl_recipe grid scope "$@"
