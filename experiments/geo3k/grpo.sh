#!/usr/bin/env bash
# geo3k, grpo: see run.sh.   [--dry-run]   SCALE=tiny for a CPU run
METHOD=grpo exec "$(dirname "$0")/run.sh" "$@"
