#!/usr/bin/env bash
# MATH, redit-uniform: see run.sh.   [--dry-run] [key=value ...]   SCALE=smoke (one GPU) | tiny (CPU)
METHOD=redit-uniform exec "$(dirname "$0")/run.sh" "$@"
