#!/usr/bin/env bash
# Create (or reuse) the project's environment in .venv/ at the repository root.
# Reinstalls only when pyproject.toml or constraints.txt changed since the last install.
# Usage: source scripts/ensure_venv.sh   (then .venv/bin/python is ready)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.redit-install-stamp"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup] creating $VENV"
  python3 -m venv "$VENV"
fi
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
  echo "[setup] installing the project and its pinned dependencies into .venv (about 2 minutes on a fresh machine)"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  # torch first, alone: a CPU build on machines that carry one (constraints pin the version);
  # then everything else under the same constraints so nothing upgrades torch.
  "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" torch 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" -e "$ROOT[test]" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import redit, torch, trl, verl" || { echo "[setup] error: install failed (see pip output above)" >&2; exit 1; }
  echo "$want" > "$STAMP"
fi
