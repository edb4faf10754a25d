#!/usr/bin/env bash
# Issue 20's busy-machine proof: .ci/run on N fresh clones of this repository's HEAD, in a row, each with two
# `yes > /dev/null` running beside it; stops at the first failure. Logs: DIR/ciLn.log, progress: DIR/progress.
#   scripts/ci-loaded.sh [N=3] [DIR=/tmp/ci-loaded]
set -u
n=${1:-3} dir=${2:-/tmp/ci-loaded}
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rev=$(git -C "$repo" rev-parse --short HEAD)
mkdir -p "$dir"
for i in $(seq "$n"); do
  d="$dir/ciL$i"; rm -rf "$d"
  git clone -q "$repo" "$d" && git -C "$d" checkout -q "$rev"
  yes > /dev/null & y1=$!; yes > /dev/null & y2=$!
  start=$(date +%s); echo "[$(date +%T)] run $i of $rev start" >> "$dir/progress"
  (cd "$d" && CI=true bash .ci/run) > "$dir/ciL$i.log" 2>&1; rc=$?
  kill $y1 $y2; wait $y1 $y2 2>/dev/null
  echo "[$(date +%T)] run $i of $rev rc=$rc in $(( $(date +%s) - start )) s" >> "$dir/progress"
  [ $rc = 0 ] || exit $rc
done
