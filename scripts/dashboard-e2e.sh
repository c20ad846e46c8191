#!/usr/bin/env bash
# End-to-end test of the web dashboard: headless Chromium (Debian's chromium
# package, installed here when missing) drives the dashboard against a live
# embedded ledger holding a realistic data space. Screenshots of every page go
# to $TDSC_E2E_SCREENSHOTS (default: $TMPDIR/tdsc-dashboard-e2e).
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
go test ./audit/dashboard -run '^TestE2E$' -count=1 -v "$@"
echo "dashboard-e2e: screenshots in $TDSC_E2E_SCREENSHOTS"
