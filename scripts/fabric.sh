#!/usr/bin/env bash
# A local Hyperledger Fabric network for tdsc on 127.0.0.1, without Docker.
#
#   scripts/fabric.sh build            build the pinned Fabric binaries (tools/fabric) and tdsc-chaincode
#   scripts/fabric.sh up               build, then start the orderer(s) + one peer per org, channel, chaincode services
#   scripts/fabric.sh deploy NAME [POLICY SEQUENCE]
#                                      define chaincode NAME on the channel (one per space; `up` deploys "tdsc"),
#                                      endorsed as TDSC_FABRIC_POLICY says, or redefine it: POLICY in Fabric's policy
#                                      language, SEQUENCE the definition's next sequence number
#   scripts/fabric.sh reload           rebuild tdsc-chaincode and restart the chaincode services
#   scripts/fabric.sh restart          start a stopped network again on its existing ledger
#   scripts/fabric.sh stop-peer N      stop organisation N's peer alone (its chaincode service runs on)
#   scripts/fabric.sh start-peer N     start it again on its ledger; it approves the chaincodes
#                                      deployed meanwhile (a majority of the orgs can deploy)
#   scripts/fabric.sh freeze-peer N    freeze organisation N's peer (SIGSTOP): it hangs, its connections
#                                      stay open; thaw-peer N lets it run on (SIGCONT)
#   scripts/fabric.sh stop-orderer [N] stop orderer N alone (no N: every orderer); start-orderer [N] starts
#                                      it again on its ledger; freeze-orderer [N] and thaw-orderer [N] as
#                                      freeze-peer and thaw-peer
#   scripts/fabric.sh raft-leader      the number N of the orderer that leads the Raft cluster now (of
#                                      TDSC_FABRIC_ORDERERS=3; fails while none leads; of a BFT
#                                      cluster, the orderer that leads its view)
#   scripts/fabric.sh join-orderer N BLOCK  orderer N leaves the channel and joins it again from the
#                                      configuration block in file BLOCK (a BFT consenter removed by a
#                                      configuration update and named again by a later one: BLOCK)
#   scripts/fabric.sh add-orderer      a brand-new orderer, the next number (of TDSC_FABRIC_ORDERER_ORGS=each,
#                                      of a new organisation): its material made and its process started,
#                                      a member of no channel; configuration updates and join-orderer add it
#                                      (prints its number, address, MSP ID and material, as JSON)
#   scripts/fabric.sh orderer-channel N  what orderer N says of the channel (JSON: consenter or follower,
#                                      active or onboarding, height): a follower serves no Deliver
#   scripts/fabric.sh stop-chaincode N stop organisation N's chaincode service alone (its peer runs on)
#   scripts/fabric.sh start-chaincode N  start it again
#   scripts/fabric.sh profile          (re)write the client profile of the network
#   scripts/fabric.sh status           what runs, block height, chaincode definitions
#   scripts/fabric.sh down             stop the processes this script started (by pid)
#   scripts/fabric.sh clean            down, then delete the network directory
#
# Settings (environment):
#   TDSC_FABRIC_CONSENSUS=raft  the ordering service: raft (etcdraft) or bft (SmartBFT,
#                               Fabric 3's Byzantine fault tolerant ordering: four orderers,
#                               blocks signed by a quorum of three, the channel orders
#                               while three run)
#   TDSC_FABRIC_ORDERERS=1      orderers of the Raft cluster, 1 or 3 (with 3 the channel
#                               orders while two run); of a BFT cluster 4, the default
#   TDSC_FABRIC_ORDERER_ORGS=one  the orderers' organisations: one (OrdererMSP runs them
#                               all) or each (orderer k of its own organisation: OrdererMSP,
#                               Orderer2MSP, ..., each with its CAs; the blocks'
#                               BlockValidation policy is ANY of their Writers)
#   TDSC_FABRIC_ORGS=2          peer organisations (1 to 4); with more than one the
#                               endorsement policy needs a peer of each
#   TDSC_FABRIC_POLICY=all      the chaincode's endorsement policy: all (AND of every
#                               org) or majority (OutOf(ORGS/2+1, every org); the
#                               profile's endorsersNeeded says how many a gateway asks)
#   TDSC_FABRIC_PORT=17050      first port; the network uses PORT..PORT+10*(ORGS+1)-1,
#                               orderers 4 to 7 (a BFT cluster's fourth, or added by
#                               add-orderer) PORT+50..PORT+61; keep them below the
#                               kernel's ephemeral ports (32768 here: up warns)
#   TDSC_FABRIC_DIR=.cache/fabric/net      network state, crypto material, logs, profile.json
#   TDSC_FABRIC_BIN=.cache/fabric/bin      binaries
#   TDSC_FABRIC_BATCH_TIMEOUT=10ms         orderer block cutting
#   TDSC_FABRIC_MAX_MESSAGE_COUNT=10
#   TDSC_FABRIC_PPROF=1         serve pprof: peer i on its port+6, chaincode service on its port+5
#
# The client profile for `--ledger fabric:<profile>` and the Go backend is
# written to $TDSC_FABRIC_DIR/profile.json.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TPL=$ROOT/scripts/fabric
NET=${TDSC_FABRIC_DIR:-$ROOT/.cache/fabric/net}
ORGS=${TDSC_FABRIC_ORGS:-2}
CONSENSUS=${TDSC_FABRIC_CONSENSUS:-raft}
if [ "$CONSENSUS" = bft ]; then ORDERERS=${TDSC_FABRIC_ORDERERS:-4}; else ORDERERS=${TDSC_FABRIC_ORDERERS:-1}; fi
ORDERER_ORGS=${TDSC_FABRIC_ORDERER_ORGS:-one}
PORT=${TDSC_FABRIC_PORT:-17050}
POLICY=${TDSC_FABRIC_POLICY:-all}
# Commands on a running network use the settings it was started with.
if [ "${1:-}" != up ] && [ -f "$NET/settings" ]; then
  # shellcheck disable=SC1091
  . "$NET/settings"
fi
BIN=${TDSC_FABRIC_BIN:-$ROOT/.cache/fabric/bin}
BATCH_TIMEOUT=${TDSC_FABRIC_BATCH_TIMEOUT:-10ms}
MAX_MESSAGE_COUNT=${TDSC_FABRIC_MAX_MESSAGE_COUNT:-10}
CHANNEL=audit
CC_LABEL=tdsc_1
export PATH=$BIN:$PATH

# Ports: orderer k (1-based) PORT+3*(k-1), its admin +1, its operations
# +2 (a fourth, of a BFT cluster, PORT+50: the orgs' ports follow the
# third); org i (1-based) peer PORT+10*i, chaincode callback +1,
# operations +2, chaincode service +3.
ord_port() { if [ "$1" -le 3 ]; then echo $((PORT + 3 * ($1 - 1))); else echo $((PORT + 50 + 3 * ($1 - 4))); fi; }
ORD_PORT=$PORT
peer_port() { echo $((PORT + 10 * $1)); }
cc_port() { echo $((PORT + 10 * $1 + 3)); }

CRYPTO=$NET/crypto
# orderer k's host name: orderer, orderer2, orderer3
ord_host() { if [ "$1" = 1 ]; then echo orderer; else echo "orderer$1"; fi; }
# orderer k's organisation (number; of ORDERER_ORGS=each, its own), its
# domain, MSP ID and directory; the node's directory and TLS CA
ord_orgno() { if [ "$ORDERER_ORGS" = each ]; then echo "$1"; else echo 1; fi; }
ord_domain() { echo "$(ord_host "$(ord_orgno "$1")").tdsc.local"; }
ord_msp() { if [ "$(ord_orgno "$1")" = 1 ]; then echo OrdererMSP; else echo "Orderer$(ord_orgno "$1")MSP"; fi; }
ord_org() { echo "$CRYPTO/ordererOrganizations/$(ord_domain "$1")"; }
ord_node() { echo "$(ord_org "$1")/orderers/$(ord_host "$1").$(ord_domain "$1")"; }
ord_ca() { echo "$(ord_node "$1")/tls/ca.crt"; }
ORD_CA=$(ord_ca 1)
# the TLS CAs of every orderer organisation, comma-separated
ord_cas() {
  local k cas=""
  for k in $(seq 1 "$ORDERERS"); do
    [ "$(ord_orgno "$k")" = "$k" ] && cas+="${cas:+,}$(ord_ca "$k")"
  done
  echo "$cas"
}
org_dir() { echo "$CRYPTO/peerOrganizations/org$1.tdsc.local"; }
peer_node() { echo "$(org_dir "$1")/peers/peer0.org$1.tdsc.local"; }

log() { echo "[fabric $(date +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 1; }

wait_port() { # port seconds
  local i=0
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    i=$((i + 1)); [ $i -le $(($2 * 10)) ] || die "nothing listens on 127.0.0.1:$1 after $2 s (see $NET/logs)"
    sleep 0.1
  done
}

fabric_version() { awk '$1 == "github.com/hyperledger/fabric" { print $2 }' "$ROOT/tools/fabric/go.mod"; }
sampleconfig() { echo "$(cd "$ROOT/tools/fabric" && go env GOMODCACHE)/github.com/hyperledger/fabric@$(fabric_version)/sampleconfig"; }

build() {
  mkdir -p "$BIN"
  local t0=$SECONDS
  if [ ! -x "$BIN/peer" ] || [ "$ROOT/tools/fabric/go.mod" -nt "$BIN/peer" ]; then
    log "building Fabric $(fabric_version) from the Go module proxy (tools/fabric)"
    (cd "$ROOT/tools/fabric" && GOBIN="$BIN" go install tool)
  fi
  (cd "$ROOT" && go build -o "$BIN/tdsc-chaincode" ./chaincode/cmd/tdsc-chaincode)
  log "binaries ready in $BIN ($((SECONDS - t0)) s)"
}

admin_env() { # org
  local o=$1
  export FABRIC_CFG_PATH=$NET/peer$o
  export CORE_PEER_LOCALMSPID=Org${o}MSP
  export CORE_PEER_MSPCONFIGPATH=$(org_dir "$o")/users/Admin@org$o.tdsc.local/msp
  export CORE_PEER_ADDRESS=127.0.0.1:$(peer_port "$o")
  export CORE_PEER_TLS_ENABLED=true
  export CORE_PEER_TLS_ROOTCERT_FILE=$(peer_node "$o")/tls/ca.crt
}

start_orderer() { # k
  local k=$1 d node p
  d=$NET/$(ord_host "$k"); node=$(ord_node "$k"); p=$(ord_port "$k")
  mkdir -p "$d"
  cp "$(sampleconfig)/orderer.yaml" "$d/orderer.yaml"
  (
    export FABRIC_CFG_PATH=$d
    export ORDERER_GENERAL_LISTENADDRESS=127.0.0.1 ORDERER_GENERAL_LISTENPORT=$p
    export ORDERER_GENERAL_LOCALMSPID=$(ord_msp "$k") ORDERER_GENERAL_LOCALMSPDIR=$node/msp
    export ORDERER_GENERAL_TLS_ENABLED=true
    export ORDERER_GENERAL_TLS_PRIVATEKEY=$node/tls/server.key
    export ORDERER_GENERAL_TLS_CERTIFICATE=$node/tls/server.crt
    export ORDERER_GENERAL_TLS_ROOTCAS="[$(ord_cas)]"
    export ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE=$node/tls/server.crt
    export ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY=$node/tls/server.key
    export ORDERER_GENERAL_CLUSTER_ROOTCAS="[$(ord_cas)]"
    export ORDERER_GENERAL_BOOTSTRAPMETHOD=none
    export ORDERER_CHANNELPARTICIPATION_ENABLED=true
    export ORDERER_ADMIN_LISTENADDRESS=127.0.0.1:$((p + 1))
    export ORDERER_ADMIN_TLS_ENABLED=true
    export ORDERER_ADMIN_TLS_CERTIFICATE=$node/tls/server.crt
    export ORDERER_ADMIN_TLS_PRIVATEKEY=$node/tls/server.key
    export ORDERER_ADMIN_TLS_ROOTCAS="[$(ord_ca "$k")]"
    export ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true
    export ORDERER_ADMIN_TLS_CLIENTROOTCAS="[$(ord_ca "$k")]"
    export ORDERER_OPERATIONS_LISTENADDRESS=127.0.0.1:$((p + 2))
    # A cluster's leader is read from its metrics (raft-leader); a lone
    # orderer leads always.
    if [ "$ORDERERS" -gt 1 ]; then export ORDERER_METRICS_PROVIDER=prometheus; else export ORDERER_METRICS_PROVIDER=disabled; fi
    export ORDERER_FILELEDGER_LOCATION=$d/data
    export ORDERER_CONSENSUS_WALDIR=$d/etcdraft/wal
    export ORDERER_CONSENSUS_SNAPDIR=$d/etcdraft/snapshot
    export FABRIC_LOGGING_SPEC=${TDSC_FABRIC_LOG:-warning}
    exec orderer >"$NET/logs/$(ord_host "$k").log" 2>&1
  ) &
  echo $! >"$NET/$(ord_host "$k").pid"
  wait_port "$((p + 1))" 30
}

start_peer() { # org
  local o=$1 node p
  node=$(peer_node "$o"); p=$(peer_port "$o")
  mkdir -p "$NET/peer$o"
  sed -e 's#^\(  endpoint:\) unix:///var/run/docker.sock#\1 ""#' \
      -e "s#path: /opt/hyperledger/ccaas_builder#path: $TPL/builder#" \
      "$(sampleconfig)/core.yaml" >"$NET/peer$o/core.yaml"
  (
    export FABRIC_CFG_PATH=$NET/peer$o
    export CORE_PEER_ID=peer0.org$o.tdsc.local
    export CORE_PEER_LISTENADDRESS=127.0.0.1:$p CORE_PEER_ADDRESS=127.0.0.1:$p
    export CORE_PEER_CHAINCODELISTENADDRESS=127.0.0.1:$((p + 1)) CORE_PEER_CHAINCODEADDRESS=127.0.0.1:$((p + 1))
    export CORE_PEER_GOSSIP_BOOTSTRAP=127.0.0.1:$p CORE_PEER_GOSSIP_EXTERNALENDPOINT=127.0.0.1:$p
    # Find the other orgs' peers (through the anchor peers) within a second
    # or two of start, not after gossip's default 25 s reconnect interval.
    export CORE_PEER_GOSSIP_RECONNECTINTERVAL=1s CORE_PEER_GOSSIP_ALIVETIMEINTERVAL=1s
    export CORE_PEER_LOCALMSPID=Org${o}MSP CORE_PEER_MSPCONFIGPATH=$node/msp
    export CORE_PEER_TLS_ENABLED=true
    export CORE_PEER_TLS_CERT_FILE=$node/tls/server.crt CORE_PEER_TLS_KEY_FILE=$node/tls/server.key
    export CORE_PEER_TLS_ROOTCERT_FILE=$node/tls/ca.crt
    export CORE_PEER_FILESYSTEMPATH=$NET/peer$o/data
    export CORE_LEDGER_STATE_STATEDATABASE=goleveldb
    # tdsc keeps its own history (the record log); Fabric's per-key history
    # index would double the writes of every commit.
    export CORE_LEDGER_HISTORY_ENABLEHISTORYDATABASE=false
    export CORE_OPERATIONS_LISTENADDRESS=127.0.0.1:$((p + 2))
    export CORE_METRICS_PROVIDER=disabled
    export CORE_PEER_PROFILE_ENABLED=${TDSC_FABRIC_PPROF:+true}
    export CORE_PEER_PROFILE_LISTENADDRESS=127.0.0.1:$((p + 6))
    export FABRIC_LOGGING_SPEC=${TDSC_FABRIC_LOG:-warning}
    exec peer node start >"$NET/logs/peer$o.log" 2>&1
  ) &
  echo $! >"$NET/peer$o.pid"
}

# Each org's chaincode service reads its org's local policy file
# (chaincode.LocalPolicy), absent by default.
start_chaincodes() {
  local o
  for o in $(seq 1 "$ORGS"); do start_chaincode "$o"; done
  for o in $(seq 1 "$ORGS"); do wait_port "$(cc_port "$o")" 30; done
}
start_chaincode() {
  local o=$1
  mkdir -p "$NET/org$o"
  CHAINCODE_ID=$(cat "$NET/package_id.org$o") CHAINCODE_SERVER_ADDRESS=127.0.0.1:$(cc_port "$o") \
    TDSC_CC_LOCAL_POLICY=$NET/org$o/local-policy.json TDSC_CC_LOG=${TDSC_CC_LOG:-} \
    TDSC_CC_PPROF=${TDSC_FABRIC_PPROF:+127.0.0.1:$(($(cc_port "$o") + 5))} \
    "$BIN/tdsc-chaincode" >>"$NET/logs/chaincode$o.log" 2>&1 &
  echo $! >"$NET/chaincode$o.pid"
}

# stopped PORT WHAT: wait until nothing listens on PORT (10 s at most).
stopped() {
  local i=0
  while (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    i=$((i + 1)); [ $i -le 100 ] || die "$2 did not stop"; sleep 0.1
  done
}

# reload: rebuild tdsc-chaincode and restart the chaincode services only.
reload() {
  build
  local f o i
  for f in "$NET"/chaincode*.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  for o in $(seq 1 "$ORGS"); do stopped "$(cc_port "$o")" "chaincode service on $(cc_port "$o")"; done
  start_chaincodes
  log "chaincode services restarted"
}

# policy_orgs: the MSP IDs the endorsement policy names, one per line (every
# org); the policy and the profile's endorsers are both made from it.
policy_orgs() { seq 1 "$ORGS" | sed 's/.*/Org&MSP/'; }

# needed: how many organisations' peers the policy needs (every one, or a
# majority).
needed() { if [ "$POLICY" = majority ]; then echo $((ORGS / 2 + 1)); else echo "$ORGS"; fi; }

policy() {
  local peers; peers=$(policy_orgs | sed "s/.*/'&.peer'/" | paste -sd, -)
  local k; k=$(needed)
  if [ "$ORGS" = 1 ]; then echo "OR($peers)"; elif [ "$k" = "$ORGS" ]; then echo "AND($peers)"; else echo "OutOf($k, $peers)"; fi
}

# deploy NAME [POLICY SEQUENCE]: approve the chaincode definition NAME
# (backed by the installed tdsc package) for every org, then commit it.
# Idempotent per name and sequence.
# definition NAME POLICY SEQUENCE: the arguments that name a chaincode
# definition, in the array DEF.
definition() {
  local k; k=$(live_orderer)
  DEF=(-o "127.0.0.1:$(ord_port "$k")" --tls --cafile "$(ord_ca "$k")" --channelID $CHANNEL --name "$1" --version 1 --sequence "$3" --signature-policy "$2")
}

# live_orderer: the number of the orderer that leads the cluster now, if
# its metrics say (a transaction the CLI sends to one orderer goes to the
# leader at once: of BFT, a follower that lost its view after a freeze
# may hold it unordered), else of the first orderer that runs (of all, the
# first: the command then fails naming it).
live_orderer() {
  local k
  if [ "$ORDERERS" -gt 1 ] && k=$(leader_now) && [ -n "$k" ]; then echo "$k"; return; fi
  for k in $(seq 1 "$ORDERERS"); do
    if runs "$(ord_host "$k")"; then echo "$k"; return; fi
  done
  echo 1
}

# approve ORG NAME POLICY SEQUENCE: the organisation's admin approves the
# definition for it.
approve() {
  local o=$1 i=0
  admin_env "$o"
  # right after start the raft leader may not be elected yet: each try
  # asks again which orderer leads
  local out
  until definition "$2" "$3" "$4" &&
    out=$(peer lifecycle chaincode approveformyorg "${DEF[@]}" --package-id "$(cat "$NET/package_id.org$o")" --waitForEvent --waitForEventTimeout 10s 2>&1); do
    echo "$out" >>"$NET/logs/cli.log"
    # a try whose event did not come in time may have been ordered: the
    # next is refused as a redefinition with unchanged content
    if grep -q "with unchanged content" <<<"$out"; then return 0; fi
    # this definition is committed at this sequence already, with these
    # parameters (deploy is idempotent per name and sequence; different
    # parameters fail)
    if grep -q "redefine the current committed sequence ($4) for namespace $2\$" <<<"$out"; then return 0; fi
    if grep -q "redefine the current committed sequence ($4) for namespace $2 with different parameters" <<<"$out"; then
      die "approve $2 for Org$o: sequence $4 of chaincode $2 is committed with other parameters (a new definition needs sequence $(($4 + 1)))"
    fi
    i=$((i + 1)); [ $i -le 40 ] || die "approve $2 for Org$o failed (see $NET/logs/cli.log)"
    sleep 0.5
  done
  echo "$out" >>"$NET/logs/cli.log"
}

# approve_pending ORG: the organisation approves the definitions committed
# while its peer was stopped (the last of each chaincode), which its peer
# needs to run them.
approve_pending() {
  local f=$NET/pending.org$1 name seq pol
  [ -f "$f" ] || return 0
  tac "$f" | awk -F'\t' '!seen[$1]++' | while IFS=$'\t' read -r name seq pol; do
    approve "$1" "$name" "$pol" "$seq"
    log "org $1 approved chaincode $name (sequence $seq), defined while its peer was stopped"
  done
  rm -f "$f"
}

# runs NAME: whether the process of NAME.pid (peer1, chaincode2, ...) runs.
runs() { [ -f "$NET/$1.pid" ] && kill -0 "$(cat "$NET/$1.pid")" 2>/dev/null; }

deploy() {
  local name=$1 pol=${2:-$(policy)} seq=${3:-1} o
  # Organisations whose peer is stopped (stop-peer) approve when it starts
  # again (approve_pending); the lifecycle's policy (MAJORITY Endorsement,
  # configtx.yaml) needs a majority of them to approve and to endorse the
  # commit.
  local up=() away=()
  for o in $(seq 1 "$ORGS"); do
    if runs "peer$o"; then up+=("$o"); else away+=("$o"); fi
  done
  [ $((${#up[@]} * 2)) -gt "$ORGS" ] ||
    die "deploy $name: the peers of org(s) ${away[*]} are stopped; the lifecycle needs a majority of $ORGS organisations"
  for o in "${up[@]}"; do approve "$o" "$name" "$pol" "$seq"; done
  local peers=()
  for o in "${up[@]}"; do
    peers+=(--peerAddresses 127.0.0.1:$(peer_port "$o") --tlsRootCertFiles "$(peer_node "$o")/tls/ca.crt")
  done
  admin_env "${up[0]}"
  # As approve: each try to the orderer that leads now, 10 s for the event
  # (CI's BFT tier once waited out 30 s for a commit sent to the leader
  # after every orderer was frozen and thawed); an earlier try ordered
  # after its wait makes the next refused as the sequence before the next.
  local i=0 out
  until definition "$name" "$pol" "$seq" &&
    out=$(peer lifecycle chaincode commit "${DEF[@]}" "${peers[@]}" --waitForEvent --waitForEventTimeout 10s 2>&1); do
    echo "$out" >>"$NET/logs/cli.log"
    if grep -q "new definition must be sequence $((seq + 1))" <<<"$out"; then break; fi
    i=$((i + 1)); [ $i -le 10 ] || die "commit of chaincode $name failed (see $NET/logs/cli.log)"
    sleep 0.5
  done
  echo "$out" >>"$NET/logs/cli.log"
  log "chaincode $name defined on channel $CHANNEL (sequence $seq), endorsement $pol"
  # Only a committed definition is left for the orgs away to approve.
  for o in "${away[@]}"; do printf '%s\t%s\t%s\n' "$name" "$seq" "$pol" >>"$NET/pending.org$o"; done
  [ ${#away[@]} -eq 0 ] || log "org(s) ${away[*]} approve chaincode $name when their peer starts again"
}

write_profile() {
  local o sep=""
  {
    printf '{\n  "channel": "%s",\n  "chaincode": "tdsc",\n  "orderer": {"address": "127.0.0.1:%s", "tlsCA": "%s"},\n  "orgs": [' "$CHANNEL" "$ORD_PORT" "$ORD_CA"
    for o in $(seq 1 "$ORGS"); do
      local d; d=$(org_dir "$o")
      printf '%s\n    {"mspId": "Org%sMSP", "peer": "127.0.0.1:%s", "peerTLSCA": "%s",\n     "userCert": "%s", "userKey": "%s",\n     "adminCert": "%s", "adminKey": "%s",\n     "localPolicy": "%s"}' \
        "$sep" "$o" "$(peer_port "$o")" "$(peer_node "$o")/tls/ca.crt" \
        "$(ls "$d"/users/User1@org$o.tdsc.local/msp/signcerts/*.pem)" "$(ls "$d"/users/User1@org$o.tdsc.local/msp/keystore/*)" \
        "$(ls "$d"/users/Admin@org$o.tdsc.local/msp/signcerts/*.pem)" "$(ls "$d"/users/Admin@org$o.tdsc.local/msp/keystore/*)" \
        "$NET/org$o/local-policy.json"
      sep=","
    done
    # the organisations the endorsement policy names: the gateway asks them
    # all at once instead of its own peer first (or, of a majority policy,
    # as many as it needs: its own and the others in turn)
    local endorsers; endorsers=$(policy_orgs | sed 's/.*/"&"/' | paste -sd, - | sed 's/,/, /g')
    local asked=""; [ "$(needed)" = "$ORGS" ] || asked=$(printf ',\n  "endorsersNeeded": %s' "$(needed)")
    # each orderer's operations endpoint (its port + 2): tdsc fabric
    # orderers reads a BFT orderer's SmartBFT view there
    local k ops=""
    for k in $(seq 1 "$ORDERERS"); do
      ops+=$(printf '%s"127.0.0.1:%s": "http://127.0.0.1:%s"' "${ops:+, }" "$(ord_port "$k")" "$(($(ord_port "$k") + 2))")
    done
    printf '\n  ],\n  "endorsers": [%s]%s,\n  "ordererOperations": {%s},\n  "deploy": "%s",\n  "dir": "%s"\n}\n' "$endorsers" "$asked" "$ops" "$ROOT/scripts/fabric.sh" "$NET"
  } >"$NET/profile.json"
}

# ephemeral_ports warns when the network's ports (PORT to PORT+61, or
# PORT+10*(ORGS+1)-1) fall in the kernel's ephemeral range: a client's
# source port can take one before its process binds it (a connection to a
# port nothing listens on yet, on loopback, can connect to itself), and
# that process then fails, "bind: address already in use" (seen with
# three organisations on 37050: peer 3's 37080).
ephemeral_ports() {
  local lo hi top=$((PORT + 61))
  [ $((PORT + 10 * (ORGS + 1) - 1)) -le "$top" ] || top=$((PORT + 10 * (ORGS + 1) - 1))
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
  if [ "$top" -ge "$lo" ] && [ "$PORT" -le "$hi" ]; then
    log "warning: TDSC_FABRIC_PORT=$PORT: ports $PORT to $top overlap the kernel's ephemeral range $lo-$hi (net.ipv4.ip_local_port_range); a process may fail to bind its port: choose one below $((lo - (top - PORT)))"
  fi
}

up() {
  case "$ORGS" in 1 | 2 | 3 | 4) ;; *) die "TDSC_FABRIC_ORGS must be 1, 2, 3 or 4, not \"$ORGS\"" ;; esac
  case "$POLICY" in all | majority) ;; *) die "TDSC_FABRIC_POLICY must be all or majority, not \"$POLICY\"" ;; esac
  case "$CONSENSUS:$ORDERERS" in raft:1 | raft:3 | bft:4) ;;
    raft:*) die "TDSC_FABRIC_ORDERERS must be 1 or 3 for a Raft cluster, not \"$ORDERERS\"" ;;
    bft:*) die "TDSC_FABRIC_ORDERERS must be 4 for a BFT cluster (3f+1 orderers, f=1), not \"$ORDERERS\"" ;;
    *) die "TDSC_FABRIC_CONSENSUS must be raft or bft, not \"$CONSENSUS\"" ;;
  esac
  case "$ORDERER_ORGS" in one | each) ;; *) die "TDSC_FABRIC_ORDERER_ORGS must be one or each, not \"$ORDERER_ORGS\"" ;; esac
  if running; then die "a network already runs from $NET (scripts/fabric.sh down first)"; fi
  ephemeral_ports
  build
  local t0=$SECONDS
  rm -rf "$NET"; mkdir -p "$NET/logs"
  echo "ORGS=$ORGS PORT=$PORT POLICY=$POLICY CONSENSUS=$CONSENSUS ORDERERS=$ORDERERS ORDERER_ORGS=$ORDERER_ORGS" >"$NET/settings"

  log "crypto material for $ORDERERS orderer(s) ($CONSENSUS) ($([ "$ORDERER_ORGS" = one ] && echo "one orderer organisation" || echo "an orderer organisation each")), $ORGS org(s)"
  ORGS=$ORGS envsubst_tpl "$TPL/crypto-config.yaml" >"$NET/crypto-config.yaml"
  cryptogen generate --config="$NET/crypto-config.yaml" --output="$CRYPTO" >/dev/null

  log "channel $CHANNEL genesis block (BatchTimeout $BATCH_TIMEOUT, MaxMessageCount $MAX_MESSAGE_COUNT)"
  envsubst_tpl "$TPL/configtx.yaml" >"$NET/configtx.yaml"
  FABRIC_CFG_PATH=$NET configtxgen -profile Audit -channelID $CHANNEL \
    -outputBlock "$NET/$CHANNEL.block" 2>"$NET/logs/configtxgen.log" || die "configtxgen failed (see $NET/logs/configtxgen.log)"

  local k
  for k in $(seq 1 "$ORDERERS"); do
    log "$(ord_host "$k") on 127.0.0.1:$(ord_port "$k")"
    start_orderer "$k"
    osnadmin_to "$k" join --channelID $CHANNEL --config-block "$NET/$CHANNEL.block" >>"$NET/logs/osnadmin.log" 2>&1 ||
      die "$(ord_host "$k") did not join $CHANNEL (see $NET/logs/osnadmin.log)"
  done

  local o i
  for o in $(seq 1 "$ORGS"); do
    log "peer of Org$o on 127.0.0.1:$(peer_port "$o")"
    start_peer "$o"
  done
  for o in $(seq 1 "$ORGS"); do
    wait_port "$(peer_port "$o")" 30
    admin_env "$o"
    i=0
    until peer channel join -b "$NET/$CHANNEL.block" >>"$NET/logs/cli.log" 2>&1; do
      i=$((i + 1)); [ $i -le 50 ] || die "peer of Org$o did not join $CHANNEL"
      sleep 0.2
    done
  done

  log "chaincode package (chaincode as a service)"
  local P=$NET/ccpkg; mkdir -p "$P"
  for o in $(seq 1 "$ORGS"); do
    mkdir -p "$P/org$o"
    printf '{"address":"127.0.0.1:%s","dial_timeout":"10s","tls_required":false}\n' "$(cc_port "$o")" >"$P/org$o/connection.json"
    printf '{"type":"ccaas","label":"%s"}\n' "$CC_LABEL" >"$P/org$o/metadata.json"
    tar -C "$P/org$o" -czf "$P/org$o/code.tar.gz" connection.json
    tar -C "$P/org$o" -czf "$P/org$o/tdsc.tgz" metadata.json code.tar.gz
  done
  # Each org's package names its own chaincode service, so the package ids
  # differ; each org approves its own.
  for o in $(seq 1 "$ORGS"); do
    admin_env "$o"
    peer lifecycle chaincode install "$P/org$o/tdsc.tgz" >>"$NET/logs/cli.log" 2>&1 || die "install on Org$o failed"
    peer lifecycle chaincode calculatepackageid "$P/org$o/tdsc.tgz" >"$NET/package_id.org$o"
  done
  start_chaincodes
  write_profile
  deploy tdsc
  log "network up in $((SECONDS - t0)) s: $ORGS org(s), profile $NET/profile.json"
}

envsubst_tpl() { # file: expand ${VAR} of the template, and the orgs
  local o
  local orgs_crypto="" orgs_tx="" refs=""
  for o in $(seq 1 "$ORGS"); do
    orgs_crypto+="  - Name: Org$o
    Domain: org$o.tdsc.local
    EnableNodeOUs: true
    Template: {Count: 1, SANS: [localhost, 127.0.0.1]}
    Users: {Count: 1}
"
    orgs_tx+="  - &Org$o
    Name: Org${o}MSP
    ID: Org${o}MSP
    MSPDir: crypto/peerOrganizations/org$o.tdsc.local/msp
    Policies:
      Readers:     {Type: Signature, Rule: \"OR('Org${o}MSP.admin', 'Org${o}MSP.peer', 'Org${o}MSP.client')\"}
      Writers:     {Type: Signature, Rule: \"OR('Org${o}MSP.admin', 'Org${o}MSP.client')\"}
      Admins:      {Type: Signature, Rule: \"OR('Org${o}MSP.admin')\"}
      Endorsement: {Type: Signature, Rule: \"OR('Org${o}MSP.peer')\"}
    AnchorPeers:
      - {Host: 127.0.0.1, Port: $(peer_port "$o")}
"
    refs+="${refs:+, }*Org$o"
  done
  local k consenters="" ordorgs="" ordtx="" ordrefs=""
  for k in $(seq 1 "$ORDERERS"); do
    local node=crypto/ordererOrganizations/$(ord_domain "$k")/orderers/$(ord_host "$k").$(ord_domain "$k")
    if [ "$CONSENSUS" = bft ]; then
      consenters+="    - ID: $k
      Host: 127.0.0.1
      Port: $(ord_port "$k")
      MSPID: $(ord_msp "$k")
      Identity: $node/msp/signcerts/$(ord_host "$k").$(ord_domain "$k")-cert.pem
      ClientTLSCert: $node/tls/server.crt
      ServerTLSCert: $node/tls/server.crt
"
    else
      consenters+="      - Host: 127.0.0.1
        Port: $(ord_port "$k")
        ClientTLSCert: $node/tls/server.crt
        ServerTLSCert: $node/tls/server.crt
"
    fi
    [ "$(ord_orgno "$k")" = "$k" ] || continue
    # orderer organisation k: its orderers (all, of ORDERER_ORGS=one) and
    # their endpoints
    local j hosts="" ends="" m; m=$(ord_msp "$k")
    for j in $(seq 1 "$ORDERERS"); do
      [ "$(ord_orgno "$j")" = "$k" ] || continue
      hosts+="      - Hostname: $(ord_host "$j")
        SANS: [localhost, 127.0.0.1]
"
      ends+="${ends:+, }127.0.0.1:$(ord_port "$j")"
    done
    ordorgs+="  - Name: Orderer$([ "$k" = 1 ] || echo "$k")
    Domain: $(ord_domain "$k")
    EnableNodeOUs: true
    Specs:
$hosts"
    ordtx+="  - &Orderer$k
    Name: ${m%MSP}Org
    ID: $m
    MSPDir: crypto/ordererOrganizations/$(ord_domain "$k")/msp
    Policies:
      Readers: {Type: Signature, Rule: \"OR('$m.member')\"}
      Writers: {Type: Signature, Rule: \"OR('$m.member')\"}
      Admins:  {Type: Signature, Rule: \"OR('$m.admin')\"}
    OrdererEndpoints: [$ends]
"
    ordrefs+="${ordrefs:+, }*Orderer$k"
  done
  # the consensus: a Raft cluster's consenters and options, or a BFT
  # cluster's consenter mapping (ID, endpoint, MSP, signing identity, TLS)
  # and SmartBFT options (a leader away is replaced within seconds, not
  # Fabric's default minute; a block is cut after the batch timeout, as
  # Raft's)
  local consensus type
  if [ "$CONSENSUS" = bft ]; then
    type=BFT
    consensus="  ConsenterMapping:
$consenters  SmartBFT:
    RequestBatchMaxInterval: $BATCH_TIMEOUT
    RequestForwardTimeout: 2s
    RequestComplainTimeout: 6s
    RequestAutoRemoveTimeout: 3m
    ViewChangeResendInterval: 2s
    ViewChangeTimeout: 6s
    LeaderHeartbeatTimeout: 6s
    LeaderHeartbeatCount: 10
    CollectTimeout: 1s
    IncomingMessageBufferSize: 200
    RequestPoolSize: 100000
"
  else
    type=etcdraft
    consensus="  EtcdRaft:
    Consenters:
$consenters    Options:
      TickInterval: 100ms
      ElectionTick: 10
      HeartbeatTick: 1
      MaxInflightBlocks: 5
      SnapshotIntervalSize: 64 MB
"
  fi
  sed -e "s#\${BATCH_TIMEOUT}#$BATCH_TIMEOUT#g" -e "s#\${MAX_MESSAGE_COUNT}#$MAX_MESSAGE_COUNT#g" -e "s#\${ORDERER_TYPE}#$type#g" \
      -e "s#\${ORDERER_ORG_REFS}#$ordrefs#g" -e "s#\${PEER_ORG_REFS}#$refs#g" "$1" |
    awk -v orgs="$orgs_crypto" -v tx="$orgs_tx" -v ordorgs="$ordorgs" -v ordtx="$ordtx" -v consensus="$consensus" '{
      if ($0 == "${PEER_ORGS}") printf "%s", orgs
      else if ($0 == "${PEER_ORGS_TX}") printf "%s", tx
      else if ($0 == "${ORDERER_ORGS}") printf "%s", ordorgs
      else if ($0 == "${ORDERER_ORGS_TX}") printf "%s", ordtx
      else if ($0 == "${CONSENSUS_CONFIG}") printf "%s", consensus
      else print }'
}

running() {
  local f
  for f in "$NET"/*.pid; do
    [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
  done
  return 1
}

status() {
  local f any=1
  for f in "$NET"/*.pid; do
    [ -f "$f" ] || continue
    local n; n=$(basename "$f" .pid)
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$n: running (pid $(cat "$f"))"; any=0; else echo "$n: stopped"; fi
  done
  [ $any = 0 ] || { echo "no network running from $NET"; return 1; }
  local o name seq pol
  for o in $(seq 1 "$ORGS") none; do ! runs "peer$o" || break; done
  [ "$o" != none ] || { echo "profile: $NET/profile.json (no peer runs)"; return 0; }
  admin_env "$o"
  peer channel getinfo -c $CHANNEL 2>>"$NET/logs/cli.log" | sed 's/^Blockchain info: /channel audit: /'
  peer lifecycle chaincode querycommitted -C $CHANNEL 2>>"$NET/logs/cli.log" | sed -n '2,$p' | cut -d, -f1,2 | head -20
  for o in $(seq 1 "$ORGS"); do
    [ -f "$NET/pending.org$o" ] || continue
    while IFS=$'\t' read -r name seq pol; do
      echo "org $o approves when its peer starts: chaincode $name (sequence $seq)"
    done <"$NET/pending.org$o"
  done
  echo "profile: $NET/profile.json"
}

down() {
  local f
  for f in "$NET"/chaincode*.pid "$NET"/peer*.pid "$NET"/orderer*.pid; do
    [ -f "$f" ] || continue
    local pid; pid=$(cat "$f")
    kill -CONT "$pid" 2>/dev/null || true # a frozen peer (freeze-peer) takes SIGTERM only once running
    if kill "$pid" 2>/dev/null; then log "stopped $(basename "$f" .pid) (pid $pid)"; fi
    rm -f "$f"
  done
}

# restart: start the stopped processes again on the existing ledger (for
# outage tests): `down` then `restart` keeps the chain.
restart() {
  mkdir -p "$NET/logs"
  local o k
  for k in $(seq 1 "$ORDERERS"); do start_orderer "$k"; done
  for o in $(seq 1 "$ORGS"); do start_peer "$o"; done
  start_chaincodes
  for o in $(seq 1 "$ORGS"); do wait_port "$(peer_port "$o")" 30; done
  for o in $(seq 1 "$ORGS"); do approve_pending "$o"; done
  log "network restarted from $NET"
}

# stop-peer N / start-peer N, stop-chaincode N / start-chaincode N: one
# organisation's peer, or its chaincode service, away and back (tests of a
# policy that needs only some organisations).
org_arg() {
  case "${2:-}" in '' | *[!0-9]*) die "usage: $0 $1 N (1 to $ORGS)" ;; esac
  [ "$2" -ge 1 ] && [ "$2" -le "$ORGS" ] || die "org $2: the network has orgs 1 to $ORGS"
}
# stop_part N WHAT PIDNAME PORT: stop organisation N's WHAT (its pid file
# PIDNAME.pid, listening on PORT) and wait until the port is free.
stop_part() {
  runs "$3" || die "$2 of org $1 is not running"
  kill -CONT "$(cat "$NET/$3.pid")" 2>/dev/null || true # a frozen peer takes SIGTERM once running
  kill "$(cat "$NET/$3.pid")" 2>/dev/null || true
  rm -f "$NET/$3.pid"
  stopped "$4" "$2 of org $1"
  log "stopped the $2 of org $1"
}
stop_peer() { org_arg stop-peer "${1:-}" && stop_part "$1" peer "peer$1" "$(peer_port "$1")"; }
stop_one_chaincode() { org_arg stop-chaincode "${1:-}" && stop_part "$1" "chaincode service" "chaincode$1" "$(cc_port "$1")"; }
start_one_peer() {
  org_arg start-peer "${1:-}"
  if runs "peer$1"; then die "peer of org $1 already runs"; fi
  start_peer "$1"
  wait_port "$(peer_port "$1")" 30
  approve_pending "$1"
  log "started the peer of org $1 again"
}
# freeze-peer N / thaw-peer N: organisation N's peer hangs (SIGSTOP) and
# runs on (SIGCONT): a peer that neither answers nor closes its connections
# (tests of a peer that hangs).
signal_peer() {
  org_arg "$1" "${3:-}"
  runs "peer$3" || die "peer of org $3 is not running"
  kill "-$2" "$(cat "$NET/peer$3.pid")"
  log "sent SIG$2 to the peer of org $3"
}
# stop-orderer [N] / start-orderer [N], freeze-orderer [N] / thaw-orderer
# [N]: orderer N (no N: every orderer) away and back, or hanging (tests of
# writes waiting for the ordering service, or of a Raft cluster losing its
# leader or its majority).
ord_args() { # command [N]: the orderers' numbers, one per line
  case "${2:-}" in
    '') seq 1 "$ORDERERS" ;;
    *[!0-9]*) die "usage: $0 $1 [N] (1 to $ORDERERS)" ;;
    *) [ "$2" -ge 1 ] && [ "$2" -le "$ORDERERS" ] || die "orderer $2: the network has orderers 1 to $ORDERERS"; echo "$2" ;;
  esac
}
signal_orderer() { # command signal [N]
  local k ks; ks=$(ord_args "$1" "${3:-}")
  for k in $ks; do
    runs "$(ord_host "$k")" || die "$(ord_host "$k") is not running"
    kill "-$2" "$(cat "$NET/$(ord_host "$k").pid")"
    log "sent SIG$2 to $(ord_host "$k")"
  done
}
stop_orderer() {
  local k ks h; ks=$(ord_args stop-orderer "${1:-}")
  for k in $ks; do
    h=$(ord_host "$k")
    runs "$h" || die "$h is not running"
    kill -CONT "$(cat "$NET/$h.pid")" 2>/dev/null || true
    kill "$(cat "$NET/$h.pid")" 2>/dev/null || true
    rm -f "$NET/$h.pid"
    stopped "$(ord_port "$k")" "$h"
    log "stopped $h"
  done
}
start_one_orderer() {
  local k ks; ks=$(ord_args start-orderer "${1:-}")
  for k in $ks; do
    if runs "$(ord_host "$k")"; then die "$(ord_host "$k") already runs"; fi
  done
  for k in $ks; do
    start_orderer "$k"
    wait_port "$(ord_port "$k")" 30
    log "started $(ord_host "$k") again"
  done
}
# osnadmin_to K ARGS...: osnadmin channel ARGS against orderer K's admin
# endpoint, as its organisation's admin.
osnadmin_to() {
  local k=$1; shift
  osnadmin channel "$@" -o 127.0.0.1:$(($(ord_port "$k") + 1)) --ca-file "$(ord_ca "$k")" \
    --client-cert "$(ord_org "$k")/users/Admin@$(ord_domain "$k")/tls/client.crt" \
    --client-key "$(ord_org "$k")/users/Admin@$(ord_domain "$k")/tls/client.key"
}
# join_orderer N BLOCK: orderer N leaves the channel (its copy removed, if
# it has one) and joins it again from configuration block BLOCK, a file.
# Fabric's way back for a BFT consenter removed by an update and named
# again by a later one (BLOCK: that one): a removed BFT orderer does not
# follow the channel on its own, as a Raft one does.
join_orderer() {
  local k; k=$(ord_args join-orderer "${1:-}")
  [ -f "${2:-}" ] || die "usage: $0 join-orderer N BLOCK (a configuration block file)"
  runs "$(ord_host "$k")" || die "$(ord_host "$k") is not running"
  # osnadmin exits 0 on any HTTP answer: its status line says how it went
  # (remove: 204, or 404 when it holds no copy; join: 201)
  local out i
  out=$(osnadmin_to "$k" remove --channelID $CHANNEL 2>&1) || true
  echo "$out" >>"$NET/logs/osnadmin.log"
  grep -q "^Status: 20[0-9]\|^Status: 404" <<<"$out" || die "$(ord_host "$k") did not leave $CHANNEL (see $NET/logs/osnadmin.log)"
  for i in $(seq 1 50); do # the removal completes in the background
    out=$(osnadmin_to "$k" join --channelID $CHANNEL --config-block "$2" 2>&1) || true
    echo "$out" >>"$NET/logs/osnadmin.log"
    if grep -q "^Status: 201" <<<"$out"; then
      log "$(ord_host "$k") joined $CHANNEL again from $(basename "$2")"
      return
    fi
    sleep 0.2
  done
  die "$(ord_host "$k") did not join $CHANNEL (see $NET/logs/osnadmin.log)"
}
# orderer_channel N: what orderer N's channel participation API says of the
# channel (JSON: consensusRelation consenter or follower, status active or
# onboarding, height); a follower serves no Deliver, so this is how to see
# it catch up.
orderer_channel() {
  local k out; k=$(ord_args orderer-channel "${1:-}")
  out=$(osnadmin_to "$k" list --channelID $CHANNEL 2>&1) || die "osnadmin: $out"
  grep -q "^Status: 200" <<<"$out" || die "$(ord_host "$k"): $(tr '\n' ' ' <<<"$out")"
  sed 1d <<<"$out"
}
# raft_leader: the number of the orderer whose metrics say it leads the
# channel's Raft cluster (of a BFT cluster: its view).
raft_leader() {
  [ "$ORDERERS" -gt 1 ] || { echo 1; return; }
  local k; k=$(leader_now)
  [ -n "$k" ] || die "no orderer leads the $CONSENSUS cluster of channel $CHANNEL now"
  echo "$k"
}
# leader_now: raft_leader's answer, or nothing while no orderer leads.
leader_now() {
  local k metric=consensus_etcdraft_is_leader
  [ "$CONSENSUS" != bft ] || metric=consensus_BFT_is_leader
  for k in $(seq 1 "$ORDERERS"); do
    runs "$(ord_host "$k")" || continue
    if curl -sf --max-time 2 "http://127.0.0.1:$(($(ord_port "$k") + 2))/metrics" |
      grep -q "^$metric{channel=\"$CHANNEL\"} 1"; then
      echo "$k"; return
    fi
  done
}
# add_orderer: a brand-new orderer, the network's next (number ORDERERS+1,
# up to 7; of ORDERER_ORGS=each, of an organisation of its own, Orderer<k>MSP):
# its crypto material generated (cryptogen extend: what exists is kept), its
# process started on its port (PORT+50+3*(k-4)) as a member of no channel,
# and the network's settings count it. Adding it to the channel is the
# channel's business: its organisation (or its endpoint) by a configuration
# update, then join-orderer k with the newest configuration block (it
# follows and catches up), then an update names it a consenter. Prints
# what that needs, one JSON line: its number, address, MSP ID, the
# directories of its organisation's and its node's material.
add_orderer() {
  local k=$((ORDERERS + 1))
  [ "$k" -le 7 ] || die "add-orderer: the network has 7 orderers, the most it lays out ports for"
  running || die "add-orderer: no network runs from $NET"
  if runs "$(ord_host "$k")"; then die "$(ord_host "$k") already runs"; fi
  ORDERERS=$k
  envsubst_tpl "$TPL/crypto-config.yaml" >"$NET/crypto-config.yaml"
  cryptogen extend --input="$CRYPTO" --config="$NET/crypto-config.yaml" >/dev/null || die "cryptogen extend failed for $(ord_host "$k")"
  [ -f "$(ord_node "$k")/tls/server.crt" ] || die "cryptogen made no material for $(ord_host "$k") under $(ord_node "$k")"
  sed -i "s/ORDERERS=[0-9]*/ORDERERS=$k/" "$NET/settings"
  log "$(ord_host "$k") ($(ord_msp "$k")) on 127.0.0.1:$(ord_port "$k"), a member of no channel yet"
  start_orderer "$k"
  wait_port "$(ord_port "$k")" 30
  write_profile # its operations endpoint
  printf '{"orderer":%d,"address":"127.0.0.1:%d","mspid":"%s","org":"%s","node":"%s"}\n' \
    "$k" "$(ord_port "$k")" "$(ord_msp "$k")" "$(ord_org "$k")" "$(ord_node "$k")"
}
start_one_chaincode() {
  org_arg start-chaincode "${1:-}"
  if runs "chaincode$1"; then die "chaincode service of org $1 already runs"; fi
  start_chaincode "$1"
  wait_port "$(cc_port "$1")" 30
  log "started the chaincode service of org $1 again"
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  deploy) [ -n "${2:-}" ] && { [ $# = 2 ] || [ $# = 4 ]; } || die "usage: $0 deploy NAME [POLICY SEQUENCE]"; deploy "$2" "${3:-}" "${4:-}" ;;
  status) status ;;
  down) down ;;
  restart) restart ;;
  stop-peer) stop_peer "${2:-}" ;;
  start-peer) start_one_peer "${2:-}" ;;
  freeze-peer) signal_peer freeze-peer STOP "${2:-}" ;;
  thaw-peer) signal_peer thaw-peer CONT "${2:-}" ;;
  stop-orderer) stop_orderer "${2:-}" ;;
  start-orderer) start_one_orderer "${2:-}" ;;
  freeze-orderer) signal_orderer freeze-orderer STOP "${2:-}" ;;
  thaw-orderer) signal_orderer thaw-orderer CONT "${2:-}" ;;
  raft-leader) raft_leader ;;
  join-orderer) join_orderer "${2:-}" "${3:-}" ;;
  add-orderer) add_orderer ;;
  orderer-channel) orderer_channel "${2:-}" ;;
  stop-chaincode) stop_one_chaincode "${2:-}" ;;
  start-chaincode) start_one_chaincode "${2:-}" ;;
  reload) reload ;;
  profile) write_profile; echo "$NET/profile.json" ;;
  clean) down; rm -rf "$NET" ;;
  *) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
