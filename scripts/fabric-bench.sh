#!/usr/bin/env bash
# The Fabric ledger bench: this checkout with one gateway and with two
# gateways (one per organisation) writing at once, and a baseline commit (the
# design before), in interleaved rounds on the same machine, each run on a
# fresh two-organisation network (or --orgs N; its own chaincode services
# built from that commit), with the same workload (`tdsc bench ledger
# --ledger fabric`).
#
#   scripts/fabric-bench.sh [--rounds N] [--pin] [--orgs N] [--policy P] [BASELINE] [bench flags...]
#       default: --rounds 3, BASELINE e4b79e6 (one transaction in flight, the
#       tree head in world state), flags --records 50000; BASELINE none runs
#       only this checkout's two configurations (twice the rounds an hour for
#       the two/one figure)
#
# --orgs 3 (or 4) runs networks of that many organisations, and "two
# gateways" becomes one per organisation (three/one); the baseline's script
# has two organisations, so BASELINE must be none. --policy majority
# defines this checkout's chaincode with OutOf(N/2+1, every org) instead of
# AND of every org (TDSC_FABRIC_POLICY; on two organisations the same), and
# each transaction asks that many endorsers.
#
# --pin gives each organisation a core of its own, as organisations on
# machines of their own have: after a network is up, organisation i's peer
# and chaincode service (every thread) are bound to CPU i-1 (taskset); the
# orderer and the bench client run where the kernel puts them. Without it
# every process shares every core.
#
# Each round runs the three configurations, in an order that turns round by
# round (so none always runs first or last), and prints each one's records/s,
# transactions and conflicts, the load average, and the round's ratios: two
# gateways over one (the "no fall" figure), one gateway over the baseline. The
# end prints the median, lowest and highest of each, and in how many rounds
# two gateways did at least as well as one, with the sign test's p, and a
# distribution-free 95 % interval of the median two/one (how far a fall or a
# gain can be) with the geometric mean.
#
# A fresh network for every run: a network keeps every earlier run's blocks,
# and the ledger service reads the channel from block 0, so a later run on the
# same network would pay for the earlier ones. TDSC_FABRIC_PORT (default
# 17050) and the directories under .cache/fabric/bench-* keep it apart from
# other networks.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3 PIN= ORGS=2 POLICY=${TDSC_FABRIC_POLICY:-all}
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=${2:-}; shift 2 || shift ;;
	--pin) PIN=1; shift ;;
	--orgs) ORGS=${2:-}; shift 2 || shift ;;
	--policy) POLICY=${2:-}; shift 2 || shift ;;
	*) break ;;
	esac
done
case $ORGS in
2) ALL=two ;; 3) ALL=three ;; 4) ALL=four ;;
*)
	echo "fabric-bench: --orgs: 2, 3 or 4 organisations, got '$ORGS'" >&2
	exit 2
	;;
esac
case $ROUNDS in '' | *[!0-9]* | 0)
	echo "fabric-bench: --rounds: a positive number, got '$ROUNDS'" >&2
	exit 2
	;;
esac
case $POLICY in all | majority) ;; *)
	echo "fabric-bench: --policy: all or majority, got '$POLICY'" >&2
	exit 2
	;;
esac
BASE=e4b79e6
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	BASE=$1
	shift
fi
FLAGS=("$@")
[ ${#FLAGS[@]} -gt 0 ] || FLAGS=(--records 50000)
if [ "$ORGS" != 2 ] && [ "$BASE" != none ]; then
	echo "fabric-bench: --orgs $ORGS: the baseline's network has two organisations; give BASELINE none" >&2
	exit 2
fi
export TDSC_FABRIC_PORT=${TDSC_FABRIC_PORT:-17050} TDSC_FABRIC_ORGS=$ORGS TDSC_FABRIC_POLICY=$POLICY
work=$(mktemp -d -t tdsc-fabric-bench-XXXXXX)
NET=$ROOT/.cache/fabric/bench-net
trap 'TDSC_FABRIC_DIR=$NET TDSC_FABRIC_BIN=$work/head-bin "$work/head/scripts/fabric.sh" down >/dev/null 2>&1 || true; TDSC_FABRIC_DIR=$work/base-net TDSC_FABRIC_BIN=$work/base-bin "$work/base/scripts/fabric.sh" down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The binaries of both sides, each in its own bin: every `fabric.sh up`
# rebuilds the chaincode service from its script's tree, so this checkout
# is copied first (tracked and untracked files, as they are now), and
# editing the working tree while the bench runs changes nothing it measures.
"$ROOT/scripts/fabric.sh" build >/dev/null
mkdir -p "$work/base" "$work/base-bin" "$work/head" "$work/head-bin"
[ "$BASE" = none ] || git -C "$ROOT" archive "$BASE" | tar -x -C "$work/base"
git -C "$ROOT" ls-files -z --cached --others --exclude-standard | (cd "$ROOT" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -x -C "$work/head"
for b in base-bin head-bin; do cp "$ROOT/.cache/fabric/bin/"{peer,orderer,configtxgen,cryptogen,osnadmin} "$work/$b/"; done
[ "$BASE" = none ] || (cd "$work/base" && go build -o "$work/tdsc-base" ./cmd/tdsc)
(cd "$work/head" && go build -o "$work/tdsc" ./cmd/tdsc)

# pin NETDIR: bind organisation i's peer and chaincode service to CPU i-1
# (modulo the CPUs there are).
pin() {
	local o f cpus
	cpus=$(nproc)
	for o in $(seq 1 "$ORGS"); do
		for f in "$1/peer$o.pid" "$1/chaincode$o.pid"; do
			taskset -a -p -c $(((o - 1) % cpus)) "$(cat "$f")" >/dev/null
		done
	done
}

# run CONFIG: one run on a fresh network; prints "records/s transactions conflicts load".
run() {
	local dir bin script tdsc gw=()
	case $1 in
	base) dir=$work/base-net bin=$work/base-bin script=$work/base/scripts/fabric.sh tdsc=$work/tdsc-base ;;
	one | two)
		dir=$NET bin=$work/head-bin script=$work/head/scripts/fabric.sh tdsc=$work/tdsc
		gw=(--gateways 1)
		[ "$1" = one ] || gw=(--gateways "$ORGS")
		;;
	esac
	TDSC_FABRIC_DIR=$dir TDSC_FABRIC_BIN=$bin "$script" down >/dev/null 2>&1 || true
	rm -rf "$dir"
	# The network's log is shown only if it does not come up.
	if ! TDSC_FABRIC_DIR=$dir TDSC_FABRIC_BIN=$bin "$script" up >"$work/up.log" 2>&1; then
		cat "$work/up.log" >&2
		exit 1
	fi
	[ -z "$PIN" ] || pin "$dir"
	local load out
	load=$(cut -d' ' -f1 /proc/loadavg)
	out=$(TDSC_FABRIC_BIN=$bin "$tdsc" bench ledger --ledger "fabric:$dir/profile.json" "${FLAGS[@]}" "${gw[@]}" 2>"$work/err" | tail -1) || true
	TDSC_FABRIC_DIR=$dir TDSC_FABRIC_BIN=$bin "$script" down >/dev/null 2>&1
	if ! grep -q 'records/s' <<<"$out"; then
		# A run that failed is shown, and left out of the medians.
		echo "fabric-bench: $1 run failed: $(tail -1 "$work/err")" >&2
		echo "failed - - $load"
		return
	fi
	local rps txs conf
	rps=$(grep -oE '[0-9]+ records/s' <<<"$out" | cut -d' ' -f1)
	txs=$(grep -oE 'in [0-9]+ transactions' <<<"$out" | cut -d' ' -f2)
	conf=$(grep -oE '[0-9]+ conflicts' <<<"$out" | cut -d' ' -f1 || true)
	echo "$rps ${txs:-?} ${conf:--} $load"
}

based="baseline $BASE (one transaction in flight), "
[ "$BASE" != none ] || based="no baseline, "
echo "fabric-bench: $ROUNDS rounds${PIN:+ (organisations pinned to a core each)} of: ${based}this checkout with one gateway, with $ALL at once ($ORGS organisations, endorsement policy: $POLICY); ${FLAGS[*]}"
printf '%-6s %-22s %-22s %-22s %-10s %-10s\n' round "baseline rec/s (tx)" "one gateway (tx, confl)" "$ALL gateways (tx, confl)" "$ALL/one" "one/base"
orders=("base one two" "two one base" "one base two")
[ "$BASE" != none ] || orders=("one two" "two one")
for ((r = 1; r <= ROUNDS; r++)); do
	declare -A got=([base]="- - - -")
	for c in ${orders[$(((r - 1) % ${#orders[@]}))]}; do
		got[$c]=$(run "$c")
	done
	read -r b bt _ bl <<<"${got[base]}"
	read -r o ot oc ol <<<"${got[one]}"
	read -r t tt tc tl <<<"${got[two]}"
	two_one=$(awk -v a="$t" -v b="$o" 'BEGIN{if (a+0 && b+0) printf "%.3f", a/b; else print "-"}')
	one_base=$(awk -v a="$o" -v b="$b" 'BEGIN{if (a+0 && b+0) printf "%.2f", a/b; else print "-"}')
	printf '%-6s %-22s %-22s %-22s %-10s %-10s load %s %s %s\n' "$r" "$b ($bt)" "$o ($ot, $oc)" "$t ($tt, $tc)" "$two_one" "$one_base" "$bl" "$ol" "$tl"
	echo "$b $o $t $two_one $one_base" >>"$work/rounds"
	unset got
done

# median min max of column $1 of the rounds, failed runs left out
stat() {
	cut -d' ' -f"$1" "$work/rounds" | grep -E '^[0-9.]+$' | sort -g |
		awk '{v[NR]=$1} END{if (!NR) {print "no run"; exit} m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "median %s, lowest %s, highest %s (%d rounds)", m, v[1], v[NR], NR}'
}
line() { printf '%-27s%s\n' "$1" "$2"; }
line "baseline records/s:" "$(stat 1)"
line "one gateway records/s:" "$(stat 2)"
line "$ALL gateways records/s:" "$(stat 3)"
line "$ALL/one per round:" "$(stat 4)"
line "one gateway/baseline:" "$(stat 5)"
# The "no fall" question as a count: in how many rounds two gateways did at
# least as well as one, and the two-sided sign test's p for that count if
# neither did better in general (a small p with few rounds at or above 1:
# a fall the spread of the rounds does not explain).
cut -d' ' -f4 "$work/rounds" | grep -E '^[0-9.]+$' | awk -v all="$ALL" '
	{ n++; if ($1 >= 1) k++ }
	END {
		if (!n) exit
		# P(X <= j) for X ~ Binomial(n, 1/2)
		for (j = 0; j <= n; j++) { c = (j ? c * (n - j + 1) / j : 1); pmf[j] = c / 2 ^ n }
		lo = 0; for (j = 0; j <= k; j++) lo += pmf[j]
		hi = 0; for (j = k; j <= n; j++) hi += pmf[j]
		p = 2 * (lo < hi ? lo : hi); if (p > 1) p = 1
		printf "%-27s%d of %d rounds (two-sided sign test p = %.3f)\n", all "/one at or above 1:", k + 0, n, p
	}'
# How far the fall (or the gain) can be, not only whether there is one: the
# median of two/one's distribution-free 95 % interval (the order statistics
# v(j) and v(n-j+1) with the largest j whose binomial coverage is at least
# 95 %), and the geometric mean of the rounds' two/one.
cut -d' ' -f4 "$work/rounds" | grep -E '^[0-9.]+$' | sort -g | awk -v all="$ALL" '
	{ v[++n] = $1; lg += log($1) }
	END {
		if (!n) exit
		for (i = 0; i <= n; i++) { c = (i ? c * (n - i + 1) / i : 1); pmf[i] = c / 2 ^ n }
		j = 0; below = 0
		# coverage of [v(j+1), v(n-j)] is 1 - 2 P(X <= j)
		while (j + 1 <= n - j - 1 && 1 - 2 * (below + pmf[j]) >= 0.95) { below += pmf[j]; j++ }
		if (j == 0) printf "%-27sno interval with %d rounds (6 at least)\n", all "/one median, 95 %:", n
		else printf "%-27s%s to %s (coverage %.3f, %d rounds)\n", all "/one median, 95 %:", v[j], v[n - j + 1], 1 - 2 * below, n
		printf "%-27s%.3f\n", all "/one geometric mean:", exp(lg / n)
	}'
