#!/usr/bin/env bash
# The Fabric ledger bench, this checkout against a baseline commit, back to
# back on the same machine: for each, a fresh two-organisation network (its
# own chaincode services built from that commit), then
# `tdsc bench ledger --ledger fabric` with the same workload; this checkout
# also with two gateways (one per organisation) writing at once.
#
#   scripts/fabric-bench.sh [BASELINE] [bench flags...]   default: e4b79e6 (main before it), --records 50000
#
# BASELINE is a commit of the design before (one transaction in flight, the
# tree head in world state); it is exported with git archive into a temporary
# directory and built there. TDSC_FABRIC_PORT (default 17050) and the network
# directories under .cache/fabric/bench-* keep it apart from other networks.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${1:-e4b79e6}
shift || true
FLAGS=("$@")
[ ${#FLAGS[@]} -gt 0 ] || FLAGS=(--records 50000)
export TDSC_FABRIC_PORT=${TDSC_FABRIC_PORT:-17050} TDSC_FABRIC_ORGS=2
work=$(mktemp -d -t tdsc-fabric-bench-XXXXXX)
trap 'for d in "$work/base-net" "$ROOT/.cache/fabric/bench-net"; do TDSC_FABRIC_DIR=$d "$ROOT/scripts/fabric.sh" down >/dev/null 2>&1 || true; done; rm -rf "$work"' EXIT

# The binaries of both sides; the baseline's chaincode service goes to its own bin.
"$ROOT/scripts/fabric.sh" build >/dev/null
mkdir -p "$work/base" "$work/base-bin"
git -C "$ROOT" archive "$BASE" | tar -x -C "$work/base"
cp "$ROOT/.cache/fabric/bin/"{peer,orderer,configtxgen,cryptogen,osnadmin} "$work/base-bin/"
(cd "$work/base" && go build -o "$work/tdsc-base" ./cmd/tdsc)
(cd "$ROOT" && go build -o "$work/tdsc" ./cmd/tdsc)

run() { # name dir bin script tdsc flags...
  local name=$1 dir=$2 bin=$3 script=$4 tdsc=$5
  shift 5
  TDSC_FABRIC_DIR=$dir TDSC_FABRIC_BIN=$bin "$script" down >/dev/null 2>&1 || true
  rm -rf "$dir"
  TDSC_FABRIC_DIR=$dir TDSC_FABRIC_BIN=$bin "$script" up >/dev/null
  echo "== $name (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  TDSC_FABRIC_BIN=$bin "$tdsc" bench ledger --ledger "fabric:$dir/profile.json" "$@"
  TDSC_FABRIC_DIR=$dir TDSC_FABRIC_BIN=$bin "$script" down >/dev/null
}
run "baseline $BASE: one transaction in flight, one gateway" "$work/base-net" "$work/base-bin" "$work/base/scripts/fabric.sh" "$work/tdsc-base" "${FLAGS[@]}"
run "this checkout: one gateway" "$ROOT/.cache/fabric/bench-net" "$ROOT/.cache/fabric/bin" "$ROOT/scripts/fabric.sh" "$work/tdsc" "${FLAGS[@]}" --gateways 1
run "this checkout: two gateways at once" "$ROOT/.cache/fabric/bench-net" "$ROOT/.cache/fabric/bin" "$ROOT/scripts/fabric.sh" "$work/tdsc" "${FLAGS[@]}" --gateways 2
