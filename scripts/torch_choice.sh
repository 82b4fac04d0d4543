#!/usr/bin/env bash
# Which torch build scripts/ensure_venv.sh installs, as pip arguments: one line on stdout, the reason as one
# "[setup] ..." line on stderr. Installs nothing; the only network access is one probe of the CPU index (≤5 s).
#
#   REDIT_TORCH=auto (default) | cpu | cuda
#     auto: cpu unless an NVIDIA GPU is visible (`nvidia-smi -L` lists one, or /dev/nvidia0 exists).
#     cpu:  the CPU build. From the PyTorch CPU index when it answers, else `torch==<pin>+cpu` from the configured
#           index / PIP_FIND_LINKS (ensure_venv.sh retries plain `torch` if no such wheel is found there).
#     cuda: PyPI's default Linux build (CUDA; pulls the nvidia-* wheels).
#   REDIT_TORCH_CPU_INDEX   the CPU index (default https://download.pytorch.org/whl/cpu; empty: never use one)
#   REDIT_GPU_DEVICE_FILE   the device node that marks a GPU (default /dev/nvidia0; tests point it elsewhere)
#
#   $ scripts/torch_choice.sh            # on a machine without a GPU whose CPU index answers:
#   torch --index-url https://download.pytorch.org/whl/cpu
#   [setup] torch: CPU build (auto: no NVIDIA GPU visible) from https://download.pytorch.org/whl/cpu
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
choice="${REDIT_TORCH:-auto}"
cpu_index="${REDIT_TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}"
device_file="${REDIT_GPU_DEVICE_FILE:-/dev/nvidia0}"
say() { echo "[setup] torch: $*" >&2; }

gpu_visible() {
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then return 0; fi
  [[ -e "$device_file" ]]
}

index_answers() {  # $1: an index URL; true when its torch/ page is there within 5 s
  local url="${1%/}/torch/"
  case "$url" in
    file://*) [[ -d "${url#file://}" ]] ;;
    *) if command -v curl >/dev/null 2>&1; then
         curl -fsS -m 5 -o /dev/null "$url" 2>/dev/null
       else
         python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$url" 2>/dev/null
       fi ;;
  esac
}

case "$choice" in
  auto)
    if [[ "$(uname -s)" != Linux ]]; then
      say "default build (auto: $(uname -s) has no CUDA build on PyPI)"; echo torch; exit 0
    fi
    if gpu_visible; then
      say "CUDA build (auto: an NVIDIA GPU is visible) from the configured index"; echo torch; exit 0
    fi
    why="auto: no NVIDIA GPU visible" ;;
  cpu) why="REDIT_TORCH=cpu" ;;
  cuda) say "CUDA build (REDIT_TORCH=cuda) from the configured index"; echo torch; exit 0 ;;
  *) echo "[setup] error: REDIT_TORCH=$choice; use auto, cpu or cuda" >&2; exit 2 ;;
esac

if [[ -n "$cpu_index" ]] && index_answers "$cpu_index"; then
  say "CPU build ($why) from $cpu_index"
  echo "torch --index-url $cpu_index"
  exit 0
fi
pin="$(sed -n 's/^torch==\([^ #]*\).*/\1/p' "$ROOT/constraints.txt" | head -1)"
pin="${pin%%+*}"
[[ -n "$pin" ]] || { echo "[setup] error: constraints.txt pins no torch==<version>" >&2; exit 2; }
where="${cpu_index:+$cpu_index is not reachable}"
say "CPU build ($why); ${where:-no CPU index (REDIT_TORCH_CPU_INDEX is empty)}: asking the configured index / PIP_FIND_LINKS for torch==$pin+cpu"
echo "torch==$pin+cpu"
