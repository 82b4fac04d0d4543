#!/usr/bin/env bash
# Run the test suite (creates .venv/ with the pinned environment if missing). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
.venv/bin/python -m ruff check . || { echo "[tests] ruff found lint errors (above); fix them or run: .venv/bin/ruff check --fix ." >&2; exit 1; }
exec .venv/bin/python -m pytest "$@"
