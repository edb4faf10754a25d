#!/usr/bin/env bash
# The whole test suite: .NET tests (the build fetches the pinned llama.cpp with npm on a fresh machine),
# then the browser tests of the chat page (installs Debian's chromium and playwright-core when missing), after the
# deployment files are checked against their real schemas (deploy/validate.sh: npm ci once, then offline); the
# openai npm SDK's packages for tests/sdk-node are installed first (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/validate.sh
# The openai npm SDK test (tests/sdk-node, run by NodeSdkTests) needs its packages; without node it skips, saying so.
if command -v npm >/dev/null 2>&1; then
  (cd tests/sdk-node && npm ci --no-audit --no-fund)
fi
dotnet test YoutuServer.sln
scripts/test-browser.sh
scripts/test-agents.sh
