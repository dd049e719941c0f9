#!/usr/bin/env bash
# Run the pipeline stage by stage and print each stage's wall time (how the README's table was measured).
# Usage (after `make setup`): scripts/time_stages.sh [logdir]
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}"
logs="${1:-/tmp/ud-stage-logs}"
mkdir -p "$logs"
stages=$(dvc stage list --name-only)
total=0
for s in $stages; do
  t0=$(date +%s.%N)
  dvc repro -s --single-item "$s" >"$logs/$s.log" 2>&1
  rc=$?
  dt=$(echo "$(date +%s.%N) - $t0" | bc)
  total=$(echo "$total + $dt" | bc)
  printf '%-24s %8.1f s  rc=%s\n' "$s" "$dt" "$rc"
  [ $rc -eq 0 ] || { echo "stage $s failed; see $logs/$s.log"; exit $rc; }
done
printf '%-24s %8.1f s\n' total "$total"
