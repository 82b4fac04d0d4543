#!/usr/bin/env bash
# MATH, grpo: see run.sh.   [--dry-run] [key=value ...]   SCALE=smoke (one GPU) | tiny (CPU)
METHOD=grpo exec "$(dirname "$0")/run.sh" "$@"
