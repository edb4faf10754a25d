#!/usr/bin/env bash
# Validates the deployment files without a Docker engine or a cluster:
#   1. docker-compose.yml  with `docker compose config` (Compose v2) or `docker-compose config` (v1, Debian's package)
#   2. Dockerfile          with dockerfile-utils (npm)
#   3. deploy/k8s, deploy/inference-gateway   `kubectl kustomize` renders them (when kubectl is installed; needs no
#                          cluster), and the rendered objects are schema-checked too (patches applied)
#   4. deploy/k8s/*.yaml, deploy/inference-gateway/**.yaml   against their real schemas: Kubernetes / KEDA /
#                          Prometheus Operator / Gateway API (kubernetes-models, npm) and the vendored GIE v1.6.0
#                          InferencePool CRD (validate/schemas/, checked with Ajv)
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

rendered=()
if command -v kubectl >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  for k in k8s inference-gateway; do
    kubectl kustomize "deploy/$k" >"$tmp/$k.yaml"
    rendered+=("$tmp/$k.yaml")
    echo "deploy/$k: kustomization renders (kubectl kustomize)"
  done
else
  echo "kustomize rendering: skipped (no kubectl); the files are still schema-checked one by one" >&2
fi

cd deploy/validate
if [ ! -d node_modules ]; then
  npm ci --silent --no-audit --no-fund --loglevel=error
fi
node lint-dockerfile.mjs
node validate-k8s.mjs "${rendered[@]}"
