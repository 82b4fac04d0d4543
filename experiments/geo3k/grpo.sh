#!/usr/bin/env bash
# Geometry3K, grpo: see run.sh.   [--dry-run] [key=value ...]   SCALE=smoke (one GPU) | tiny (CPU)
METHOD=grpo exec "$(dirname "$0")/run.sh" "$@"
