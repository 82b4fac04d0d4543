#!/usr/bin/env bash
# Any experiment of redit/registry.py that has verl variants, by name (a new registry entry needs no
# recipe file of its own): ABLATION=<experiment> experiments/ablations/experiment.sh [--dry-run]
#   (SEEDS, TASK, RUNS and recipe variables from the env, as for the named recipes beside it)
[[ -n "${ABLATION:-}" ]] || { echo "error: set ABLATION=<experiment> (python -m redit.registry names)" >&2; exit 2; }
source "$(dirname "$0")/../common.sh"
exec "$PY" -m patches.verl_recipe grid "$ABLATION" "$@"
