# Shared by scripts/chaos.sh, attack.sh and soak.sh: a space of separate
# processes on free loopback ports, driven through the tdsc binary as
# scripts/walkthrough.sh does. Source it after setting $work; it defines:
#   build_tdsc              go build ./cmd/tdsc into $work/tdsc (and the helper tools)
#   free_port               a port the kernel just handed out on 127.0.0.1
#   space_init              authority, keys and genesis (no processes)
#   ledger_start [DIR]      tdsc ledger serve on $ledger_addr (pid in $ledger_pid)
#   register NAME ID REGION register participant NAME (key NAME.key) on the ledger
#   node_write NAME ID      write NAME.yaml (port in ${NAME}_addr)
#   node_start NAME         tdsc serve --config NAME.yaml (pid in ${NAME}_pid)
#   offer_dataset NAME FILE DATASET [TITLE]  register FILE and offer it for research
#   scenario NAME CMD...    run one scenario, print PASS/FAIL, count
# Every process is started in the background and stopped by its pid at exit.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The tiers need python3 (free ports, the exactly-once check) and curl besides
# Go: install them from Debian when a fresh machine lacks them.
need=()
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi
space=urn:tdsc:space:tier
pids=()
passed=0 failed=0
cleanup_space() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
# kill9 PID: kill -9 and wait until it is gone (it may not be our child).
kill9() { kill -9 "$1" 2>/dev/null || true; for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.02; done; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() {
  for _ in $(seq 1 300); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "not up: $1" >&2; tail -20 "$work"/*.log >&2; return 1
}
build_tdsc() {
  (cd "$root" && go build -o "$work/tdsc" ./cmd/tdsc && go build -o "$work/tdsc-attack" ./tools/attack && go build -o "$work/tampersweep" ./tools/tampersweep)
}
tdsc() { "$work/tdsc" "$@"; }

space_init() {
  cd "$work"
  tdsc authority init --dir authority --space "$space" --name "Tier authority" --region CN-BJ >/dev/null
  ledger_addr=127.0.0.1:$(free_port)
  export TDSC_LEDGER=http://$ledger_addr
}
ledger_start() {
  local dir=${1:-ledger}
  "$work/tdsc" ledger serve --dir "$dir" --genesis authority/genesis.json --addr "$ledger_addr" >>ledger.log 2>&1 &
  ledger_pid=$!; pids+=($ledger_pid)
  wait_up "http://$ledger_addr/healthz"
}
register() {
  local name=$1 id=$2 region=$3
  tdsc keys generate --out "$name.key" >"$name.jwk"
  tdsc authority register --dir authority --id "$id" --name "$name org" --jwk "$name.jwk" --region "$region" \
    --industry transport --org-type enterprise >/dev/null
}
node_write() {
  local name=$1 id=$2 port
  port=$(free_port)
  printf -v "${name}_addr" '%s' "127.0.0.1:$port"
  printf -v "${name}_id" '%s' "$id"
  mkdir -p "$name"
  [ -f "$name/operator.token" ] || { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$name/operator.token"; chmod 600 "$name/operator.token"; }
  cat >"$name.yaml" <<YAML
participantId: $id
space: $space
listen: 127.0.0.1:$port
dataDir: $name
dataSources: $name
keyFile: $name.key
operatorTokenFile: $name/operator.token
ledgerUrl: http://$ledger_addr
YAML
}
node_start() {
  local name=$1 addr_var=${1}_addr
  "$work/tdsc" serve --config "$name.yaml" >>"$name.log" 2>&1 &
  local pid=$!
  printf -v "${name}_pid" '%s' "$pid"; pids+=($pid)
  wait_up "http://${!addr_var}/healthz"
}
api() { local name=$1; shift; local a=${name}_addr; TDSC_API=http://${!a} "$work/tdsc" "$@" --token-file "$work/$name/operator.token"; }
# drained NAME...: whether every named node's outbox holds no record pending
# or batched (a node that does not answer has not drained).
drained() {
  local n
  for n in "$@"; do
    api "$n" outbox -o json 2>/dev/null | python3 -c '
import json, sys
try:
    c = json.load(sys.stdin)["counts"]
except Exception:
    sys.exit(1)
sys.exit(1 if c.get("pending", 0) + c.get("batched", 0) else 0)' || return 1
  done
}
offer_dataset() {
  local name=$1 file=$2 ds=$3 title=${4:-Dataset $3} hash
  hash=sha256:$(sha256sum "$name/$file" | cut -d' ' -f1)
  cat >research.json <<'JSON'
{"@context": "https://w3id.org/dspace/2025/1/context.jsonld", "@id": "OFFERID", "@type": "Offer",
 "permission": [{"action": "use", "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}]}]}
JSON
  sed -i "s/OFFERID/offer-$ds/" research.json
  api "$name" dataset add --id "$ds" --title "$title" --classification general --category transport --content-hash "$hash" --source "file:$file" >/dev/null
  api "$name" offer add --dataset "$ds" --policy research.json >/dev/null
}
# negotiate CONSUMER PROVIDER DATASET: prints the agreement id (or fails).
negotiate() {
  local c=$1 p=$2 ds=$3 pa=${2}_addr out
  out=$(api "$c" negotiate --from "http://${!pa}" --offer "offer-$ds" --purpose research --wait -o json) || { echo "$out" >&2; return 1; }
  grep -q '"FINALIZED"' <<<"$out" || { echo "negotiation did not finalize: $out" >&2; return 1; }
  sed -n 's/.*"agreement": *"\([^"]*\)".*/\1/p' <<<"$out" | head -1
}
scenario() {
  local name=$1; shift
  local start=$SECONDS out rc=0
  # In this shell, not a subshell: scenarios restart processes and keep their pids.
  "$@" >"$work/scenario.out" 2>&1 || rc=$?
  out=$(cat "$work/scenario.out")
  if [ $rc = 0 ]; then
    passed=$((passed + 1)); printf 'PASS %-60s (%ds) %s\n' "$name" $((SECONDS - start)) "$(tail -1 <<<"$out")"
  else
    failed=$((failed + 1)); printf 'FAIL %-60s (%ds)\n%s\n' "$name" $((SECONDS - start)) "$(tail -30 <<<"$out" | sed 's/^/    /')"
  fi
}
summary() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" = 0 ]
}
