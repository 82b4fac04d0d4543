#!/usr/bin/env bash
# GSM8K, grpo: see run.sh.   [--dry-run]   SCALE=tiny for a CPU run
METHOD=grpo exec "$(dirname "$0")/run.sh" "$@"
