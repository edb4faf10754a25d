#!/usr/bin/env bash
# The full soak test: 64 streaming clients (mixed with non-streaming, tool, n>1 and disconnecting ones) against a
# real youtu-server process on the tiny model for SECONDS (default 600), then the queue-overflow phase.
# Asserts zero 5xx, well-terminated streams, no split UTF-8, usage when asked, no leaked stop strings, all KV
# cells free at the end and RSS growth under 5% after the warm-up (tests/YoutuServer.Tests/Load/SoakRunner.cs).
#
#   scripts/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
report="$(mktemp /tmp/youtu-soak.XXXXXX)"
trap 'rm -f "$report"' EXIT
echo "soak.sh: ${seconds} s soak (plus server start-up and the overflow phase)" >&2
set +e
YOUTU_SOAK_SECONDS="$seconds" YOUTU_SOAK_REPORT="$report" dotnet test tests/YoutuServer.Tests \
  --artifacts-path "${ARTIFACTS:-artifacts/soak-build}" \
  --filter "FullyQualifiedName~SoakTests.Full_soak" \
  --logger "console;verbosity=normal" -- RunConfiguration.TestSessionTimeout=$(( (seconds + 600) * 1000 ))
rc=$?
set -e
echo
echo "---- soak report ----"
cat "$report" 2>/dev/null || echo "(no report written)"
exit $rc
