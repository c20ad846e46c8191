#!/usr/bin/env bash
# Builds the dashboard's front end into audit/dashboard/web/dist, which the Go
# package embeds. The output is committed, so `go build` needs only Go; run
# this after changing audit/dashboard/web/src and commit dist/ with it.
#
#   scripts/dashboard-build.sh          install the pinned packages (npm ci) and build
#   scripts/dashboard-build.sh --check  build and fail if dist/ differs from what is committed
set -euo pipefail
cd "$(dirname "$0")/../audit/dashboard/web"
command -v npm >/dev/null || { echo "dashboard-build: npm is required (Node.js >= 18)" >&2; exit 1; }
# Exact versions from package-lock.json; esbuild's platform binary comes as an
# optional dependency, so no install script needs to run.
npm ci --no-audit --no-fund --ignore-scripts
node build.mjs
if [[ "${1:-}" == "--check" ]]; then
  if ! git diff --quiet -- dist; then
    echo "dashboard-build: dist/ is out of date with src/; commit the rebuilt files" >&2
    git diff --stat -- dist >&2
    exit 1
  fi
fi
