#!/usr/bin/env bash
# Validates the deployment files without a Docker engine or a cluster:
#   1. docker-compose.yml  with `docker compose config` (Compose v2) or `docker-compose config` (v1, Debian's package)
#   2. Dockerfile          with dockerfile-utils (npm)
#   3. deploy/k8s          `kubectl kustomize` renders it (when kubectl is installed; needs no cluster)
#   4. deploy/k8s/*.yaml   against the Kubernetes / KEDA / Prometheus Operator JSON schemas (kubernetes-models, npm)
# Needs node + npm (one `npm ci` from the registry, then offline).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  compose=()
fi
if [ ${#compose[@]} -gt 0 ]; then
  "${compose[@]}" -f docker-compose.yml config --quiet
  "${compose[@]}" -f docker-compose.yml --profile monitoring config --quiet
  echo "docker-compose.yml: valid (${compose[*]} config)"
else
  echo "docker-compose.yml: skipped (no docker compose / docker-compose; apt-get install docker-compose)" >&2
fi

if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize deploy/k8s >/dev/null
  echo "deploy/k8s: kustomization renders (kubectl kustomize)"
fi

cd deploy/validate
if [ ! -d node_modules ]; then
  npm ci --silent --no-audit --no-fund --loglevel=error
fi
node lint-dockerfile.mjs
node validate-k8s.mjs
