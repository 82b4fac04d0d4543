#!/usr/bin/env bash
# mbpp, redit-gaussian: see run.sh.   [--dry-run]   SCALE=tiny for a CPU run
METHOD=redit-gaussian exec "$(dirname "$0")/run.sh" "$@"
