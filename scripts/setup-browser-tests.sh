#!/usr/bin/env bash
# Installs what the chat page's browser tests need on a fresh machine: Debian's chromium (apt) and
# playwright-core (npm ci in tests/browser, from the committed package-lock.json). Playwright's own browser
# download is never used: the tests drive /usr/bin/chromium (or $CHROMIUM_PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

chromium_bin="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$chromium_bin" ]]; then
  if [[ -n "${CHROMIUM_PATH:-}" ]]; then
    echo "setup-browser-tests: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable" >&2
    exit 1
  fi
  sudo=""
  if [[ "$(id -u)" -ne 0 ]]; then
    sudo="sudo"
  fi
  echo "setup-browser-tests: installing Debian's chromium with apt-get"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
"$chromium_bin" --version 2>/dev/null  # (Debian's wrapper script may complain on stderr)

# playwright-core exactly as package-lock.json pins it (no browser download: it has none to do).
cd tests/browser
npm ci --no-audit --no-fund
