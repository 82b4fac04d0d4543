#!/usr/bin/env bash
# GSM8K, redit-gaussian: see run.sh.   [--dry-run]   SCALE=tiny for a CPU run
METHOD=redit-gaussian exec "$(dirname "$0")/run.sh" "$@"
