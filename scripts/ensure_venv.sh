#!/usr/bin/env bash
# Create (or reuse) the project's environment in .venv/ at the repository root.
# Reinstalls only when pyproject.toml or constraints.txt changed since the last install.
# Usage: source scripts/ensure_venv.sh   (then .venv/bin/python is ready)
#   REDIT_TORCH=auto|cpu|cuda picks the torch build on install (default auto: the CPU build unless an NVIDIA GPU
#   is visible; scripts/torch_choice.sh says how). The choice is not part of the install stamp: a GPU that is
#   visible one day and not the next (a container started without --gpus) must not trigger a multi-GB reinstall,
#   and either build satisfies the pins. To switch the build of an existing .venv: rm -rf .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.redit-install-stamp"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"

_redit_pip() {  # pip install -q "$@" in .venv, without the mirrors' "WARNING: Location" lines; pip's exit status
  local out rc=0
  out="$("$VENV/bin/python" -m pip install -q "$@" 2>&1)" || rc=$?
  [[ -z "$out" ]] || grep -v "^WARNING: Location" <<<"$out" >&2 || true
  return "$rc"
}

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup] creating $VENV"
  python3 -m venv "$VENV"
fi
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
  torch_spec="$(bash "$ROOT/scripts/torch_choice.sh")" || exit 2   # (it printed the reason)
  read -ra torch_args <<<"$torch_spec"
  echo "[setup] installing the project and its pinned dependencies into .venv (about 2 minutes on a fresh machine)"
  _redit_pip --upgrade pip || true
  # torch first, alone (constraints pin the version: 2.13.0+cpu satisfies torch==2.13.0); then everything else
  # under the same constraints, so nothing replaces the build chosen here.
  if ! _redit_pip -c "$ROOT/constraints.txt" "${torch_args[@]}"; then
    [[ "$torch_spec" != torch ]] || { echo "[setup] error: installing torch failed (see pip output above)" >&2; exit 1; }
    echo "[setup] torch: '$torch_spec' failed (above); installing plain torch from the configured index" \
         "(on Linux that is the CUDA build with its nvidia-* wheels)" >&2
    _redit_pip -c "$ROOT/constraints.txt" torch || { echo "[setup] error: installing torch failed (see pip output above)" >&2; exit 1; }
  fi
  _redit_pip -c "$ROOT/constraints.txt" -e "$ROOT[test]" || true   # (the import check below decides)
  "$VENV/bin/python" -c "import redit, torch, trl, verl; print('[setup] installed torch', torch.__version__)" \
    || { echo "[setup] error: install failed (see pip output above)" >&2; exit 1; }
  echo "$want" > "$STAMP"
else
  case "${REDIT_TORCH:-auto}" in
    auto) ;;
    cpu|cuda)  # the venv is current: say so when it holds the other build than the one asked for
      have="$(ls -d "$VENV"/lib/python*/site-packages/torch-*.dist-info 2>/dev/null | head -1 || true)"
      have="${have##*/torch-}"; have="${have%.dist-info}"
      want_cpu=no; have_cpu=no
      if [[ "$REDIT_TORCH" == cpu ]]; then want_cpu=yes; fi
      if [[ "$have" == *+cpu ]]; then have_cpu=yes; fi
      if [[ -n "$have" && "$want_cpu" != "$have_cpu" && "$(uname -s)" == Linux ]]; then
        echo "[setup] note: .venv has torch $have; REDIT_TORCH=$REDIT_TORCH takes effect on a new .venv (rm -rf .venv)" >&2
      fi ;;
    *) echo "[setup] error: REDIT_TORCH=$REDIT_TORCH; use auto, cpu or cuda" >&2; exit 2 ;;
  esac
fi
