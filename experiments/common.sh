# Sourced by every recipe in experiments/ (not run directly): the interpreter the recipe hands its
# values to. Everything else -- presets, validation, overrides, data, launch -- is patches/verl_recipe.py
# (experiments/gsm8k/grpo.sh -h lists every variable).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
if ! command -v "$PY" >/dev/null; then
  echo "error: no Python at $PY; run ./run_tests.sh --co -q once (it creates .venv), or on a cluster set PY=python (see environment.yml)" >&2; exit 2
fi
export PY PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
