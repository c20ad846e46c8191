#!/usr/bin/env bash
# End-to-end test of the web dashboard: headless Chromium (Debian's chromium
# package, installed here when missing) drives the dashboard, first against a
# live embedded ledger holding a realistic data space (TestE2E), then against
# a running `tdsc demo --keep`, the dashboard the product serves over the
# ledger the demo's connectors wrote (TestE2EDemo). Screenshots of every page
# go to $TDSC_E2E_SCREENSHOTS (default: $TMPDIR/tdsc-dashboard-e2e), the
# demo's to its demo/ folder.
#
#   scripts/dashboard-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CHROMIUM="${TDSC_CHROMIUM:-/usr/bin/chromium}"
SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"
pkgs=()
[[ -x "$CHROMIUM" ]] || pkgs+=(chromium)
# A CJK font, so the Chinese screenshots show characters, not boxes.
if ! command -v fc-list >/dev/null || [[ -z "$(fc-list :lang=zh 2>/dev/null)" ]]; then pkgs+=(fonts-wqy-microhei); fi
if (( ${#pkgs[@]} )); then
  echo "dashboard-e2e: installing ${pkgs[*]}" >&2
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${pkgs[@]}"
fi
export TDSC_E2E=1 TDSC_CHROMIUM="$CHROMIUM"
export TDSC_E2E_SCREENSHOTS="${TDSC_E2E_SCREENSHOTS:-${TMPDIR:-/tmp}/tdsc-dashboard-e2e}"

# The demo: build tdsc, start it in the background, wait for its ledger URL
# and /healthz; stopped (by its PID) when this script exits.
work="$(mktemp -d)"
demo_pid=""
stop_demo() {
  if [[ -n "$demo_pid" ]] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -INT "$demo_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$demo_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_demo EXIT
go build -o "$work/tdsc" ./cmd/tdsc
mkdir "$work/demo"
"$work/tdsc" demo --keep --dir "$work/demo" >"$work/demo.out" 2>&1 &
demo_pid=$!
url=""
for _ in $(seq 600); do
  url="$(sed -n 's/^ *ledger service *\(http:\/\/[0-9.:]*\) .*/\1/p' "$work/demo.out" | tail -n 1)"
  [[ -n "$url" ]] && grep -q '^The space keeps running' "$work/demo.out" && break
  url=""
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    cat "$work/demo.out" >&2
    echo "dashboard-e2e: tdsc demo exited before serving" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$url" ]]; then
  cat "$work/demo.out" >&2
  echo "dashboard-e2e: no ledger URL from tdsc demo within 60 s" >&2
  exit 1
fi
for _ in $(seq 100); do
  curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$url/healthz"
echo "dashboard-e2e: tdsc demo (pid $demo_pid) serving $url, files in $work/demo" >&2
export TDSC_E2E_DEMO_URL="$url" TDSC_E2E_DEMO_DIR="$work/demo"

go test ./audit/dashboard -run '^TestE2E(Demo|GM)?$' -count=1 -v "$@"
echo "dashboard-e2e: screenshots in $TDSC_E2E_SCREENSHOTS"
