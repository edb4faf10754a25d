#!/usr/bin/env bash
# Schema-validates deploy/k8s offline (after one `npm ci` from the npm registry): deploy/k8s/validate.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/validate"
if [ ! -d node_modules ]; then
  npm ci --silent --no-audit --no-fund --loglevel=error
fi
node validate.mjs
