#!/usr/bin/env bash
# Adaptive sigma (new): the controller (redit/adaptive_sigma.py) runs in the TRL backend only, so
# there is no verl run of it; at tiny scale: ./run_all.sh --only adaptive
echo "error: adaptive sigma has no verl recipe (the controller is wired into the TRL backend only); run ./run_all.sh --only adaptive" >&2
exit 2
