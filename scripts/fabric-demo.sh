#!/usr/bin/env bash
# The demo on Hyperledger Fabric: start a two-organisation network on its own
# ports and directory (binaries built from the Go module proxy, cached), run
# `tdsc demo --ledger fabric` against it (a fresh chaincode per run, every batch
# endorsed by both organisations), then re-audit the space from the channel's
# blocks, and stop the network.
#
#   scripts/fabric-demo.sh
#   TDSC_FABRIC_DEMO_SUITE=gm scripts/fabric-demo.sh   the same in a gm space (SM2, SM3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export TDSC_FABRIC_DIR=${TDSC_FABRIC_DEMO_DIR:-$ROOT/.cache/fabric/demo-net}
# Below the kernel's ephemeral range (32768+), where an outgoing connection
# could hold a port the network wants.
export TDSC_FABRIC_PORT=${TDSC_FABRIC_DEMO_PORT:-22050}
export TDSC_FABRIC_ORGS=${TDSC_FABRIC_ORGS:-2}
trap '"$ROOT/scripts/fabric.sh" down >/dev/null 2>&1 || true' EXIT
"$ROOT/scripts/fabric.sh" down >/dev/null 2>&1 || true
"$ROOT/scripts/fabric.sh" up
cd "$ROOT"
work=$(mktemp -d -t tdsc-fabric-demo-XXXXXX)
go run ./cmd/tdsc demo --suite "${TDSC_FABRIC_DEMO_SUITE:-intl}" --ledger fabric --fabric-profile "$TDSC_FABRIC_DIR/profile.json" --dir "$work" | tee "$work/story.txt"
chaincode=$(sed -n 's/.*(chaincode \([^ ]*\) on Hyperledger Fabric.*/\1/p' "$work/story.txt" | head -1)
go run ./cmd/tdsc audit verify --ledger "fabric:$TDSC_FABRIC_DIR/profile.json" --chaincode "$chaincode"
