#!/usr/bin/env bash
# `dvc repro` with every output line stamped with the epoch second, then each stage's wall time:
# how results/*/stage_times.json are measured (`ud stage-times LOG --json results/X/stage_times.json`).
# Usage: scripts/timed_repro.sh LOG [--exp] [dvc repro args]
# (--exp: `dvc exp run` instead, e.g. `scripts/timed_repro.sh sweep.log --exp -S bins=10`)
set -uo pipefail
log="${1:?usage: scripts/timed_repro.sh LOG [--exp] [dvc repro args]}"; shift
cmd=(dvc repro)
if [ "${1:-}" = "--exp" ]; then shift; cmd=(dvc exp run); fi
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}" TOKENIZERS_PARALLELISM=false
start=$(date +%s)
"${cmd[@]}" "$@" 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(date +%s)" "$line"; done > "$log"
rc=${PIPESTATUS[0]}
echo "$(date +%s) EXIT $rc TOTAL $(( $(date +%s) - start )) s" >> "$log"
ud stage-times "$log"
exit "$rc"
