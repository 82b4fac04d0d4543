#!/usr/bin/env bash
# Run the test suite (creates .venv/ with the pinned environment if missing). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
exec .venv/bin/python -m pytest "$@"
