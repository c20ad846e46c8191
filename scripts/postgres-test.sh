#!/usr/bin/env bash
# The connector's tests with its state in PostgreSQL: starts a throwaway
# server on loopback (scripts/postgres.sh), runs the store's, the connector's
# and the CLI's transfer tests with TDSC_TEST_POSTGRES (a fresh database per
# node), and stops the server.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
url=$(bash scripts/postgres.sh up)
trap 'bash scripts/postgres.sh down' EXIT
echo "[postgres-test] server at $url"
TDSC_TEST_POSTGRES=$url go test -count=1 ./connector/...
TDSC_TEST_POSTGRES=$url go test -count=1 -run 'TestTransfer' ./cmd/tdsc/
