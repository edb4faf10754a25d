#!/usr/bin/env bash
# The OpenAI Agents SDK (@openai/agents, pinned in tests/agents/package-lock.json) against the real server on the
# tiny synthesized model: a forced tool over Chat Completions and Responses, thinking on and off, three runs each.
# Skips (visibly, exit 0) when node or npm is missing; set YOUTU_REQUIRE_AGENTS=1 to make that a failure.
#
#   YOUTU_SERVER_DLL=path/to/youtu-server.dll   use that build and skip `dotnet build`
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "test-agents: SKIPPED: node and npm are needed for the Agents SDK tests (tests/agents)" >&2
  [[ "${YOUTU_REQUIRE_AGENTS:-0}" == "1" ]] && exit 1
  exit 0
fi

if [[ -z "${YOUTU_SERVER_DLL:-}" ]]; then
  dotnet build src/YoutuServer -c Release -nologo -clp:ErrorsOnly
  export YOUTU_SERVER_DLL="$PWD/src/YoutuServer/bin/Release/net10.0/youtu-server.dll"
fi

cd tests/agents
npm ci --no-audit --no-fund
npm test
