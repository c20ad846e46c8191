#!/usr/bin/env bash
# The README's "run it for real" walk, as a script CI runs: separate processes
# for the ledger service and two connectors, everything through the CLI.
#   authority init → ledger serve → keys → register → serve ×2 → dataset, offer
#   → catalog → negotiate → transfer + pull → audit verify → flows report
# Usage: scripts/walkthrough.sh [WORKDIR]   (ports 127.0.0.1:18470-18472 by default;
# set TDSC_WALK_PORT_BASE to move them)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d -t tdsc-walk-XXXXXX)}
base=${TDSC_WALK_PORT_BASE:-18470}
ledger_addr=127.0.0.1:$base dept_addr=127.0.0.1:$((base + 1)) firm_addr=127.0.0.1:$((base + 2))
mkdir -p "$work" && cd "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
say() { printf '\n$ %s\n' "$*" >&2; }
run() { say "$@"; "$@"; }
wait_up() { for _ in $(seq 1 200); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $1" >&2; cat ./*.log >&2; exit 1; }

(cd "$root" && go build -o "$work/tdsc" ./cmd/tdsc)
tdsc() { ./tdsc "$@"; }

# The authority creates the space; the ledger service pins its key.
run tdsc authority init --dir authority --space urn:tdsc:space:walkthrough --name "Walkthrough authority" --region CN-BJ >/dev/null
say tdsc ledger serve --dir ledger --genesis authority/genesis.json --addr "$ledger_addr"
./tdsc ledger serve --dir ledger --genesis authority/genesis.json --addr "$ledger_addr" 2>ledger.log & pids+=($!)
wait_up "http://$ledger_addr/healthz"
export TDSC_LEDGER=http://$ledger_addr

# Each organisation makes its key; the authority registers it on the ledger.
run tdsc keys generate --out dept.key >dept.jwk
run tdsc keys generate --out firm.key >firm.jwk
run tdsc authority register --dir authority --id bj-transport --name "Beijing Transport Bureau" --jwk dept.jwk --region CN-BJ --industry transport --org-type government >/dev/null
run tdsc authority register --dir authority --id sh-mobility --name "Shanghai Mobility Co." --jwk firm.jwk --region CN-SH --industry transport --org-type enterprise --credit-code 91310000MA1FL8XQ37 >/dev/null
cat >rules.json <<'JSON'
{"negativeList": [{"category": "human-genetic-resources"}],
 "crossBorder": [{"destination": "SG", "maxClassification": "important", "legalBasis": "data-export-security-assessment"}]}
JSON
run tdsc authority rules set rules.json --dir authority >/dev/null

# Two connectors, each from a YAML config.
for who in dept firm; do
  if [ $who = dept ]; then id=bj-transport addr=$dept_addr; else id=sh-mobility addr=$firm_addr; fi
  mkdir -p $who && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >$who/operator.token && chmod 600 $who/operator.token
  cat >$who.yaml <<YAML
participantId: $id
space: urn:tdsc:space:walkthrough
listen: $addr
dataDir: $who
dataSources: $who
keyFile: $who.key
operatorTokenFile: $who/operator.token
ledgerUrl: http://$ledger_addr
YAML
  say tdsc serve --config $who.yaml
  ./tdsc serve --config $who.yaml 2>$who.log & pids+=($!)
  wait_up "http://$addr/healthz"
done

# The department registers a dataset and offers it for research.
printf 'road,hour,vehicles\nG6,08,1520\nG6,09,1710\n' >dept/traffic.csv
hash=sha256:$(sha256sum dept/traffic.csv | cut -d' ' -f1)
cat >research.json <<'JSON'
{"@context": "https://w3id.org/dspace/2025/1/context.jsonld", "@id": "offer-traffic-research", "@type": "Offer",
 "permission": [{"action": "use",
   "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
                  {"leftOperand": "count", "operator": "lteq", "rightOperand": 3}],
   "duty": [{"action": "delete", "constraint": [{"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P30D"}]}]}]}
JSON
export TDSC_API=http://$dept_addr
run tdsc dataset add --token-file dept/operator.token --id ds-traffic --title "Traffic counts" --classification general --category transport --content-hash "$hash" --source file:traffic.csv
run tdsc offer add --token-file dept/operator.token --dataset ds-traffic --policy research.json

# The enterprise browses, negotiates and pulls.
export TDSC_API=http://$firm_addr
run tdsc catalog --token-file firm/operator.token --from "http://$dept_addr"
say tdsc negotiate --from "http://$dept_addr" --offer offer-traffic-research --purpose research --wait -o json
./tdsc negotiate --token-file firm/operator.token --from "http://$dept_addr" --offer offer-traffic-research --purpose research --wait -o json >neg.json
agreement=$(sed -n 's/.*"agreement": *"\([^"]*\)".*/\1/p' neg.json | head -1)
grep -q '"FINALIZED"' neg.json || { echo "negotiation did not finalize:"; cat neg.json; exit 1; }
echo "agreement $agreement"
say tdsc transfer start --agreement "$agreement" --out traffic.csv --key firm.key --wait
./tdsc transfer start --token-file firm/operator.token --agreement "$agreement" --out traffic.csv --key firm.key --wait
cmp traffic.csv dept/traffic.csv && echo "pulled file is identical"
say tdsc negotiate ... --purpose marketing --wait
./tdsc negotiate --token-file firm/operator.token --from "http://$dept_addr" --offer offer-traffic-research --purpose marketing --wait -o json >refused.json || true
grep -q '"TERMINATED"' refused.json || { echo "marketing was not refused:"; cat refused.json; exit 1; }

# The auditor and the regulator.
./tdsc authority token --dir authority --role auditor --subject walk-auditor >auditor.token
./tdsc authority token --dir authority --role regulator --subject walk-regulator >regulator.token
# The completion record goes through the provider's outbox: wait for it.
for _ in $(seq 1 200); do
  ./tdsc audit records --ledger "$TDSC_LEDGER" --token auditor.token --kind transfer.completed -o csv | grep -q ds-traffic && break
  sleep 0.05
done
run tdsc audit records --ledger "$TDSC_LEDGER" --token auditor.token --kind agreement.signed
run tdsc audit verify --ledger "$TDSC_LEDGER" --token auditor.token --vkey ledger/ledger.vkey
run tdsc flows report --ledger "$TDSC_LEDGER" --token regulator.token
if ./tdsc audit records >/dev/null 2>&1; then echo "reading without a role token succeeded" >&2; exit 1; fi
echo
echo "walkthrough: passed"
