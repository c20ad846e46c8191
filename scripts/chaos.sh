#!/usr/bin/env bash
# Chaos tier: a space of separate processes (ledger service, a provider, a
# consumer, all tdsc binaries on free loopback ports) under kill -9, SIGSTOP,
# a full disk and a second process on one data dir. After each scenario:
# every agreement and completed pull a connector holds is on the ledger
# exactly once, none doubled, outboxes drained, resumed pulls end with the
# registered hash, `tdsc audit verify` passes over the service, and what the
# CLI printed meanwhile was a named error, never a hang (each call is bounded
# by `timeout`) or a panic. At the end the stopped ledger directory is
# verified too (records, indexes, kept state), and the tamper sweep runs.
#   scripts/chaos.sh [WORKDIR]
# TDSC_CHAOS_SHORT=1 (CI): 100 MB instead of 200 MB, SIGSTOP 10 s instead of
# 60 s, a 100-flip tamper sweep instead of 300.
set -euo pipefail
work=${1:-$(mktemp -d -t tdsc-chaos-XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
. "$(dirname "$0")/lib/space.sh"
short=${TDSC_CHAOS_SHORT:-0}
big_mb=200 stop_s=60 flips=300
[ "$short" = 1 ] && big_mb=100 stop_s=10 flips=100
mounted=""
cleanup() { cleanup_space; [ -n "$mounted" ] && umount "$mounted" 2>/dev/null || true; }
trap cleanup EXIT
build_tdsc
space_init
ledger_start
register dept bj-transport CN-BJ
register firm sh-mobility CN-SH
node_write dept bj-transport; node_start dept
node_write firm sh-mobility; node_start firm
printf 'road,hour,vehicles\nG6,08,1520\nG6,09,1710\n' >dept/traffic.csv
offer_dataset dept traffic.csv ds-traffic
head -c $((big_mb << 20)) /dev/urandom >dept/big.bin
offer_dataset dept big.bin ds-big
big_hash=$(sha256sum dept/big.bin | cut -d' ' -f1)
tdsc authority token --dir authority --role auditor --subject chaos-auditor >auditor.token
errors=$work/user-errors.log; : >"$errors"

# cli LABEL CMD...: one user command, bounded; a hang or a panic fails the tier.
cli() {
  local label=$1; shift
  local out rc=0
  out=$(timeout 120 "$@" 2>&1) || rc=$?
  if [ $rc = 124 ]; then echo "HANG ($label): $*" | tee -a "$errors"; return 124; fi
  if grep -qE '^panic:|^goroutine [0-9]+ \[' <<<"$out"; then echo "PANIC ($label): $out" | tee -a "$errors"; return 99; fi
  [ $rc != 0 ] && printf '%s: %s\n' "$label" "$(tail -1 <<<"$out")" >>"$errors"
  printf '%s\n' "$out"
  return $rc
}
# retry N LABEL CMD...: what a user does after a named error: try again.
retry() {
  local n=$1 label=$2; shift 2
  for i in $(seq 1 "$n"); do
    local rc=0
    cli "$label" "$@" || rc=$?
    [ $rc = 0 ] && return 0
    [ $rc = 124 ] || [ $rc = 99 ] && return $rc
    sleep 1
  done
  return 1
}
negotiate_retry() {
  local out
  out=$(retry 30 negotiate env TDSC_API="http://$firm_addr" "$work/tdsc" negotiate --token-file firm/operator.token \
    --from "http://$dept_addr" --offer "offer-$1" --purpose research --wait -o json) || return 1
  grep -q '"FINALIZED"' <<<"$out" || { echo "not finalized: $out"; return 1; }
  sed -n 's/.*"agreement": *"\([^"]*\)".*/\1/p' <<<"$out" | grep . | tail -1
}
pull_retry() { # AGREEMENT OUT
  retry 30 transfer env TDSC_API="http://$firm_addr" "$work/tdsc" transfer start --token-file firm/operator.token \
    --agreement "$1" --out "$2" --key firm.key --wait >/dev/null
}
restart_ledger() { ledger_start "${1:-ledger}"; }

# check: the invariants after every scenario.
check() {
  for _ in $(seq 1 600); do drained dept firm && break; sleep 0.1; done
  python3 "$root/scripts/lib/ledger_check.py" "$TDSC_LEDGER" auditor.token \
    "http://$dept_addr:dept/operator.token" "http://$firm_addr:firm/operator.token" || return 1
  tdsc audit verify --ledger "$TDSC_LEDGER" --token auditor.token --vkey ledger/ledger.vkey || return 1
  if grep -qE '^(HANG|PANIC)' "$errors"; then grep -E '^(HANG|PANIC)' "$errors"; return 1; fi
}

# A bounded stream: N rounds of negotiate + pull of the small dataset.
stream() {
  for i in $(seq 1 "$1"); do
    ag=$(negotiate_retry ds-traffic) || return 1
    pull_retry "$ag" "stream-$i.csv" || return 1
    cmp -s "stream-$i.csv" dept/traffic.csv || { echo "round $i: pulled file differs"; return 1; }
  done
}
kill_ledger_during_stream() { # DELAY
  stream 6 >stream.out 2>&1 &
  local sp=$!
  sleep "$1"
  kill9 "$ledger_pid"
  sleep 1
  restart_ledger
  wait $sp || { cat stream.out; return 1; }
  check
}
scenario "kill -9 ledger early in a stream (0.3 s)" kill_ledger_during_stream 0.3
scenario "kill -9 ledger mid-stream (1.5 s)" kill_ledger_during_stream 1.5
scenario "kill -9 ledger late in a stream (3 s)" kill_ledger_during_stream 3

kill_provider_mid_negotiation() {
  env TDSC_API="http://$firm_addr" "$work/tdsc" negotiate --token-file firm/operator.token --from "http://$dept_addr" \
    --offer offer-ds-traffic --purpose research --wait -o json >neg.out 2>&1 &
  local np=$!
  sleep 0.15
  kill9 "$dept_pid"
  node_start dept
  wait $np || true
  if grep -qE '^panic:' neg.out; then cat neg.out; return 1; fi
  grep -q FINALIZED neg.out || echo "first try: $(tail -1 neg.out)" >>"$errors"
  ag=$(negotiate_retry ds-traffic) || return 1
  pull_retry "$ag" after-provider-kill.csv
  check
}
scenario "kill -9 provider mid-negotiation" kill_provider_mid_negotiation

# big_pull WHO: kill -9 the provider (or the consumer: its node and the
# pulling CLI) once some megabytes are in, restart it, resume the pull.
big_pull() {
  local who=$1 ag tid
  ag=$(negotiate_retry ds-big) || return 1
  rm -f big.out
  env TDSC_API="http://$firm_addr" "$work/tdsc" transfer start --token-file firm/operator.token --agreement "$ag" \
    --out big.out --key firm.key --wait --timeout 5m >pull.out 2>&1 &
  local pp=$!
  for _ in $(seq 1 600); do [ "$(stat -c %s big.out 2>/dev/null || echo 0)" -gt $((big_mb << 18)) ] && break; sleep 0.02; done
  local at; at=$(stat -c %s big.out 2>/dev/null || echo 0)
  if [ "$who" = provider ]; then
    kill9 "$dept_pid"
    wait $pp || true
    node_start dept
  else
    kill9 $pp; kill9 "$firm_pid"
    node_start firm
  fi
  if grep -qE '^panic:' pull.out; then cat pull.out; return 1; fi
  [ -s pull.out ] && echo "pull cut: $(tail -1 pull.out)" >>"$errors"
  tid=$(api firm transfer list -o json | python3 -c 'import json,sys; a=sys.argv[1]; print([t["id"] for t in json.load(sys.stdin) if t["agreement"]==a][0])' "$ag")
  retry 20 resume env TDSC_API="http://$firm_addr" "$work/tdsc" transfer pull "$tid" --token-file firm/operator.token \
    --out big.out --key firm.key --resume >/dev/null || return 1
  got=$(sha256sum big.out | cut -d' ' -f1)
  [ "$got" = "$big_hash" ] || { echo "resumed file hash $got, registered $big_hash"; return 1; }
  echo "cut at $((at >> 20)) MiB of $big_mb MiB; resumed to the registered hash" >>"$errors"
  check
}
scenario "kill -9 provider mid-pull of a $big_mb MB file" big_pull provider
scenario "kill -9 consumer (node and pulling CLI) mid-pull" big_pull consumer

sigstop_ledger() {
  kill -STOP "$ledger_pid"
  local start=$SECONDS
  # Users act meanwhile: each call must come back (named error or success) within its bound.
  cli "negotiate while the ledger is stopped" env TDSC_API="http://$firm_addr" "$work/tdsc" negotiate --token-file firm/operator.token \
    --from "http://$dept_addr" --offer offer-ds-traffic --purpose research --wait --timeout 20s -o json >/dev/null || true
  cli "outbox while the ledger is stopped" env TDSC_API="http://$firm_addr" "$work/tdsc" outbox --token-file firm/operator.token >/dev/null || true
  sleep $((stop_s - (SECONDS - start) > 0 ? stop_s - (SECONDS - start) : 0))
  kill -CONT "$ledger_pid"
  stream 2 || return 1
  check
}
scenario "SIGSTOP ledger ${stop_s} s" sigstop_ledger

# The ledger's directory on a small tmpfs the script mounts; when mounting is
# not permitted, RLIMIT_FSIZE (ulimit -f) on the ledger process is the closest
# real alternative (writes past it fail with EFBIG).
disk_full() {
  kill "$ledger_pid"; wait "$ledger_pid" 2>/dev/null || true
  local size how full
  size=$(( $(stat -c %s ledger/ledger.db) / 1024 + 32 ))
  mkdir -p tmpfs
  if mount -t tmpfs -o size=${size}k tmpfs tmpfs 2>/dev/null; then
    mounted=$work/tmpfs how="tmpfs of ${size} KiB"
    cp -a ledger/. tmpfs/
    ledger_start tmpfs
  else
    how="no mount permission: ulimit -f ${size} KiB on the ledger process"
    ( ulimit -f "$size"; exec "$work/tdsc" ledger serve --dir ledger --genesis authority/genesis.json --addr "$ledger_addr" >>ledger.log 2>&1 ) &
    ledger_pid=$!; pids+=($ledger_pid)
    wait_up "http://$ledger_addr/healthz"
  fi
  # Write until the ledger refuses (bbolt grows its file in steps).
  local full=0
  for i in $(seq 1 100); do
    ag=$(cli "negotiate on a full disk" env TDSC_API="http://$firm_addr" "$work/tdsc" negotiate --token-file firm/operator.token \
      --from "http://$dept_addr" --offer offer-ds-traffic --purpose research --wait --timeout 10s -o json) || { full=1; break; }
    kill -0 "$ledger_pid" 2>/dev/null || { full=1; break; }
  done
  # Room again: the ledger restarted with space, the outboxes catch up.
  kill9 "$ledger_pid"
  if [ -n "$mounted" ]; then
    rm -rf ledger && mkdir ledger && cp -a tmpfs/. ledger/ && umount tmpfs && mounted=""
  fi
  restart_ledger
  stream 1 || return 1
  check || return 1
  echo "$how; the disk filled: $full"
}
scenario "ledger directory full" disk_full

second_process() {
  local out rc=0
  out=$(TDSC_LISTEN=127.0.0.1:$(free_port) timeout 30 "$work/tdsc" serve --config dept.yaml 2>&1) || rc=$?
  [ $rc != 0 ] && [ $rc != 124 ] || { echo "second process on dept's data dir: rc $rc: $out"; return 1; }
  grep -qiE 'in use|another|lock' <<<"$out" || { echo "no clear message: $out"; return 1; }
  curl -fsS "http://$dept_addr/healthz" >/dev/null || { echo "the first process died"; return 1; }
  echo "refused: $(grep -iE 'in use|another|lock' <<<"$out" | tail -1)"
}
scenario "two connector processes on one data dir" second_process

final_dir_verify() {
  for p in "$dept_pid" "$firm_pid" "$ledger_pid"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  tdsc audit verify --ledger ledger
}
scenario "stopped ledger directory verifies (records, indexes, kept state)" final_dir_verify
scenario "tamper sweep: $flips single-byte flips of a stopped 3,000-record ledger" \
  "$work/tampersweep" -tdsc "$work/tdsc" -records 3000 -flips "$flips" -work "$work/sweep"
echo "-- what users saw (named errors), by kind:"
sed -E 's/urn:uuid:[0-9a-f-]+/<id>/g; s/[0-9a-f]{8}-[0-9a-f-]{27}/<id>/g; s/127\.0\.0\.1:[0-9]+/<addr>/g' "$errors" | cut -c1-160 | sort | uniq -c | sort -rn | head -20
summary chaos
