#!/usr/bin/env bash
# geo3k, redit-uniform: see run.sh.   [--dry-run]   SCALE=tiny for a CPU run
METHOD=redit-uniform exec "$(dirname "$0")/run.sh" "$@"
