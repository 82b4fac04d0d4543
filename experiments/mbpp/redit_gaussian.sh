#!/usr/bin/env bash
# MBPP, redit-gaussian: see run.sh.   [--dry-run] [key=value ...]   SCALE=smoke (one GPU) | tiny (CPU)
METHOD=redit-gaussian exec "$(dirname "$0")/run.sh" "$@"
