#!/usr/bin/env bash
# The whole test suite: .NET tests (the build fetches the pinned llama.cpp with npm on a fresh machine),
# then the browser tests of the chat page (installs Debian's chromium and playwright-core when missing), after the
# deployment files are checked against their real schemas (deploy/validate.sh: npm ci once, then offline).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/validate.sh
dotnet test YoutuServer.sln
scripts/test-browser.sh
scripts/test-agents.sh
