#!/usr/bin/env bash
# Browser end-to-end tests of the built-in chat page (tests/browser): installs chromium and playwright-core
# when missing (scripts/setup-browser-tests.sh), builds the server, then drives the page in headless chromium
# against the real server on loopback with the tiny synthesized model. Screenshots: tests/browser/artifacts/.
#
#   YOUTU_SERVER_DLL=path/to/youtu-server.dll   use that build and skip `dotnet build`
#   CHROMIUM_PATH=/path/to/chromium             another chromium than /usr/bin/chromium
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-browser-tests.sh

if [[ -z "${YOUTU_SERVER_DLL:-}" ]]; then
  dotnet build src/YoutuServer -c Release -nologo -clp:ErrorsOnly
  export YOUTU_SERVER_DLL="$PWD/src/YoutuServer/bin/Release/net10.0/youtu-server.dll"
fi

cd tests/browser
npm test
