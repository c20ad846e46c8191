#!/usr/bin/env bash
# The README's "run it for real" walk, as a script CI runs: separate processes
# for the ledger service and two connectors, everything through the CLI.
#   authority init → ledger serve → keys → register → serve ×2 → dataset, offer
#   → catalog → negotiate → transfer + pull → audit verify → flows report
#   (over HTTPS also DCP: the authority's Issuer Service, and the enterprise's
#   node keeping its membership credential itself, renewed after a change)
# Usage: scripts/walkthrough.sh [WORKDIR]   (ports 127.0.0.1:18470-18472 by default;
# set TDSC_WALK_PORT_BASE to move them). TDSC_WALK_TLS=1 runs it all over HTTPS:
# a space CA and certificates for 127.0.0.1 made with openssl, the ledger
# service with --tls-cert/--tls-key, the connectors with tlsCertFile/tlsKeyFile
# and tlsCaFile, and the CLI trusting the CA through TDSC_TLS_CA_FILE.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d -t tdsc-walk-XXXXXX)}
base=${TDSC_WALK_PORT_BASE:-18470}
ledger_addr=127.0.0.1:$base dept_addr=127.0.0.1:$((base + 1)) firm_addr=127.0.0.1:$((base + 2)) auth_addr=127.0.0.1:$((base + 3))
# did:web names a host and port with the colon escaped: did:web:127.0.0.1%3A18472
firm_did="did:web:${firm_addr/:/%3A}" auth_did="did:web:${auth_addr/:/%3A}"
mkdir -p "$work" && cd "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
say() { printf '\n$ %s\n' "$*" >&2; }
run() { say "$@"; "$@"; }
scheme=http curl_tls=()
if [ "${TDSC_WALK_TLS:-}" = 1 ]; then
  scheme=https
  # The space's CA, and one certificate for 127.0.0.1 it signs (every service here).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=walkthrough space CA" \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" -keyout node.key -out node.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >node.ext
  openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile node.ext -out node.pem 2>/dev/null
  export TDSC_TLS_CA_FILE=$work/ca.pem
  curl_tls=(--cacert "$work/ca.pem")
fi
wait_up() { for _ in $(seq 1 200); do curl -fsS "${curl_tls[@]}" "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $1" >&2; cat ./*.log >&2; exit 1; }

(cd "$root" && go build -o "$work/tdsc" ./cmd/tdsc)
tdsc() { ./tdsc "$@"; }

# The authority creates the space; the ledger service pins its key.
run tdsc authority init --dir authority --space urn:tdsc:space:walkthrough --name "Walkthrough authority" --region CN-BJ >/dev/null
ledger_tls=()
[ $scheme = https ] && ledger_tls=(--tls-cert node.pem --tls-key node.key)
say tdsc ledger serve --dir ledger --genesis authority/genesis.json --addr "$ledger_addr" "${ledger_tls[@]}"
./tdsc ledger serve --dir ledger --genesis authority/genesis.json --addr "$ledger_addr" "${ledger_tls[@]}" 2>ledger.log & pids+=($!)
wait_up "$scheme://$ledger_addr/healthz"
export TDSC_LEDGER=$scheme://$ledger_addr

# Each organisation makes its key; the authority registers it on the ledger.
run tdsc keys generate --out dept.key >dept.jwk
run tdsc keys generate --out firm.key >firm.jwk
run tdsc authority register --dir authority --id bj-transport --name "Beijing Transport Bureau" --jwk dept.jwk --region CN-BJ --industry transport --org-type government >/dev/null
firm_did_flag=()
[ $scheme = https ] && firm_did_flag=(--did "$firm_did") # a did:web needs HTTPS
run tdsc authority register --dir authority --id sh-mobility --name "Shanghai Mobility Co." --jwk firm.jwk --region CN-SH --industry transport --org-type enterprise --credit-code 91310000MA1FL8XQ37 "${firm_did_flag[@]}" >/dev/null
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
ledgerUrl: $scheme://$ledger_addr
YAML
  [ $scheme = https ] && printf 'tlsCertFile: node.pem\ntlsKeyFile: node.key\ntlsCaFile: ca.pem\n' >>$who.yaml
  # The enterprise also speaks DCP, and keeps its membership credential from
  # the authority's Issuer Service itself (no credential file).
  [ $scheme = https ] && [ $who = firm ] &&
    printf 'did: "%s"\ntrustedIssuers: ["%s"]\ncredentialIssuer: "%s"\ncredentialCheck: 1s\n' "$firm_did" "$auth_did" "$auth_did" >>$who.yaml
  say tdsc serve --config $who.yaml
  ./tdsc serve --config $who.yaml 2>$who.log & pids+=($!)
  wait_up "$scheme://$addr/healthz"
done

if [ $scheme = https ]; then
  # DCP: the authority serves its DID document, status list and Issuer
  # Service; the enterprise's node asks for its membership credential by
  # itself once the authority is up, and files what it is sent.
  say tdsc authority credentials serve --dir authority --did "$auth_did" --addr "$auth_addr" --reconcile 1s --tls-cert node.pem --tls-key node.key
  ./tdsc authority credentials serve --dir authority --did "$auth_did" --addr "$auth_addr" --reconcile 1s \
    --tls-cert node.pem --tls-key node.key 2>authority.log & pids+=($!)
  export TDSC_API=$scheme://$firm_addr
  # credential_ids: the ids of the credentials the enterprise's node holds.
  credential_ids() { ./tdsc identity --token-file firm/operator.token -o json | sed -n 's/.*"id": *"\(urn:uuid:[^"]*\)".*/\1/p'; }
  first=
  for _ in $(seq 1 100); do first=$(credential_ids 2>/dev/null | head -1); [ -n "$first" ] && break; sleep 0.1; done
  [ -n "$first" ] || { echo "the enterprise's node got no credential:"; cat firm.log authority.log; exit 1; }
  run tdsc identity --token-file firm/operator.token
  # Its ledger entry changes: the authority's reconcile revokes the credential
  # that stated the old one and offers a new one, which the node requests.
  run tdsc authority update --dir authority --id sh-mobility --industry logistics >/dev/null
  renewed=
  for _ in $(seq 1 100); do
    renewed=$(credential_ids 2>/dev/null | head -1)
    [ -n "$renewed" ] && [ "$renewed" != "$first" ] && break
    sleep 0.1
  done
  [ -n "$renewed" ] && [ "$renewed" != "$first" ] || { echo "the credential was not renewed after the change:"; cat firm.log authority.log; exit 1; }
  [ "$(credential_ids | wc -l)" = 1 ] || { echo "the node holds the revoked credential beside the new one"; exit 1; }
  run tdsc identity --token-file firm/operator.token
fi

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
export TDSC_API=$scheme://$dept_addr
run tdsc dataset add --token-file dept/operator.token --id ds-traffic --title "Traffic counts" --classification general --category transport --content-hash "$hash" --source file:traffic.csv
run tdsc offer add --token-file dept/operator.token --dataset ds-traffic --policy research.json

# The enterprise browses, negotiates and pulls.
export TDSC_API=$scheme://$firm_addr
run tdsc catalog --token-file firm/operator.token --from "$scheme://$dept_addr"
say tdsc negotiate --from "$scheme://$dept_addr" --offer offer-traffic-research --purpose research --wait -o json
./tdsc negotiate --token-file firm/operator.token --from "$scheme://$dept_addr" --offer offer-traffic-research --purpose research --wait -o json >neg.json
agreement=$(sed -n 's/.*"agreement": *"\([^"]*\)".*/\1/p' neg.json | head -1)
grep -q '"FINALIZED"' neg.json || { echo "negotiation did not finalize:"; cat neg.json; exit 1; }
echo "agreement $agreement"
say tdsc transfer start --agreement "$agreement" --out traffic.csv --key firm.key --wait
./tdsc transfer start --token-file firm/operator.token --agreement "$agreement" --out traffic.csv --key firm.key --wait
cmp traffic.csv dept/traffic.csv && echo "pulled file is identical"
say tdsc negotiate ... --purpose marketing --wait
./tdsc negotiate --token-file firm/operator.token --from "$scheme://$dept_addr" --offer offer-traffic-research --purpose marketing --wait -o json >refused.json || true
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
echo "walkthrough ($scheme): passed"
