#!/usr/bin/env bash
# Soak: a few consumers negotiating and pulling from one provider for a while
# (separate processes: ledger service, provider, consumers, each a tdsc
# binary on free loopback ports). Reports throughput, errors, p50/p99 of a
# negotiate+pull round, and samples the RSS and open file descriptors of every
# process every few seconds; fails when a process grows past the bound
# docs/reliability.md states: RSS of the last quarter at most 1.5 x the
# first quarter's + 32 MiB, open fds at most the first quarter's + 16.
#   scripts/soak.sh [WORKDIR]          10 minutes (TDSC_SOAK_SECONDS to change)
#   TDSC_SOAK_SECONDS=60 scripts/soak.sh   a short try
# On demand only (not in .ci/run); run it under flock /tmp/tdsc-heavy.lock.
set -euo pipefail
work=${1:-$(mktemp -d -t tdsc-soak-XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
. "$(dirname "$0")/lib/space.sh"
secs=${TDSC_SOAK_SECONDS:-600}
consumers=${TDSC_SOAK_CONSUMERS:-3}
trap cleanup_space EXIT
build_tdsc
space_init
ledger_start
register dept bj-transport CN-BJ
node_write dept bj-transport; node_start dept
for i in $(seq 1 "$consumers"); do
  register "c$i" "consumer-$i" CN-SH
  node_write "c$i" "consumer-$i"; node_start "c$i"
done
head -c $((1 << 20)) /dev/urandom >dept/data.bin
offer_dataset dept data.bin ds-soak
tdsc authority token --dir authority --role auditor --subject soak-auditor >auditor.token

# One consumer's loop: negotiate + pull, one line per round: "ok MILLISECONDS" or "err".
consumer_loop() {
  local c=$1 end=$2 a
  local ca=${c}_addr
  while [ $SECONDS -lt "$end" ]; do
    local t0; t0=$(date +%s%N)
    if out=$(timeout 120 env TDSC_API="http://${!ca}" "$work/tdsc" negotiate --token-file "$c/operator.token" \
        --from "http://$dept_addr" --offer offer-ds-soak --purpose research --wait -o json 2>&1) &&
      a=$(sed -n 's/.*"agreement": *"\([^"]*\)".*/\1/p' <<<"$out" | grep . | tail -1) && [ -n "$a" ] &&
      timeout 120 env TDSC_API="http://${!ca}" "$work/tdsc" transfer start --token-file "$c/operator.token" \
        --agreement "$a" --out "$c/pull.bin" --key "$c.key" --wait >/dev/null 2>&1 &&
      cmp -s "$c/pull.bin" dept/data.bin; then
      echo "ok $((($(date +%s%N) - t0) / 1000000))"
    else
      echo "err $(tail -1 <<<"$out" | cut -c1-200)"
    fi
  done
}
sample() { # every 5 s: elapsed name rss_kib fds
  local end=$1 start=$SECONDS
  while [ $SECONDS -lt "$end" ]; do
    for n in ledger dept $(seq -f 'c%g' 1 "$consumers"); do
      local pv=${n}_pid
      [ $n = ledger ] && pv=ledger_pid
      local p=${!pv}
      local rss; rss=$(awk '/^VmRSS/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
      local fds; fds=$(ls /proc/"$p"/fd 2>/dev/null | wc -l)
      echo "$((SECONDS - start)) $n $rss $fds"
    done
    sleep 5
  done
}
end=$((SECONDS + secs))
sample "$end" >samples.txt &
sp=$!
lp=()
for i in $(seq 1 "$consumers"); do consumer_loop "c$i" "$end" >"rounds-c$i.txt" & lp+=($!); done
wait "${lp[@]}" $sp

cat rounds-c*.txt >rounds.txt
python3 - "$secs" "$consumers" <<'PY'
import sys, collections
secs, consumers = int(sys.argv[1]), int(sys.argv[2])
ok = sorted(float(l.split()[1]) / 1000 for l in open("rounds.txt") if l.startswith("ok "))
errs = [l.strip() for l in open("rounds.txt") if l.startswith("err")]
pct = lambda p: ok[min(len(ok) - 1, int(p * len(ok)))] if ok else float("nan")
print(f"soak: {secs} s, {consumers} consumers: {len(ok)} rounds (negotiate + 1 MiB pull) ok, {len(errs)} errors, "
      f"{len(ok) / secs:.2f} rounds/s, p50 {pct(0.5) * 1000:.0f} ms, p99 {pct(0.99) * 1000:.0f} ms")
for e in collections.Counter(errs).most_common(5):
    print("  error:", e)
by = collections.defaultdict(list)
for l in open("samples.txt"):
    t, n, rss, fds = l.split()
    by[n].append((int(t), int(rss), int(fds)))
bad = 0
for n, s in sorted(by.items()):
    q = max(1, len(s) // 4)
    first, last = s[:q], s[-q:]
    rss0, rss1 = max(x[1] for x in first), max(x[1] for x in last)
    fd0, fd1 = max(x[2] for x in first), max(x[2] for x in last)
    ok_rss = rss1 <= 1.5 * rss0 + 32 * 1024
    ok_fd = fd1 <= fd0 + 16
    print(f"{'PASS' if ok_rss and ok_fd else 'FAIL'} {n:7s} RSS {rss0 / 1024:6.1f} -> {rss1 / 1024:6.1f} MiB (peak {max(x[1] for x in s) / 1024:.1f}), "
          f"open fds {fd0} -> {fd1} (peak {max(x[2] for x in s)}), {len(s)} samples")
    bad += not (ok_rss and ok_fd)
if errs:
    bad += 1
print(f"{len(by) + 1 - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
python3 "$root/scripts/lib/ledger_check.py" "$TDSC_LEDGER" auditor.token "http://$dept_addr:dept/operator.token"
