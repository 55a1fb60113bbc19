#!/usr/bin/env bash
# Glass to glass in headless Chromium over WebRTC (WHEP) against LL-HLS, in
# the same run: the studio's stamped test pattern at 720p30 is published to
# a local `onair serve` over RTMP, and the web player page reads the capture
# stamp from every decoded frame, first in one mode, then the other, each
# round on a fresh viewer.
# Usage: benches/webrtc_latency.sh [SECONDS] [ROUNDS]   (defaults 15, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_WATCH="${1:-15}"
ROUNDS="${2:-2}"
BIN="${ONAIR_BIN:-target/release/onair}"
[ -x "$BIN" ] || cargo build --release
TMP="$(mktemp -d /tmp/onair-webrtc-latency.XXXXXX)"
. benches/common.sh
SERVER= PUBLISHER=
trap 'kill ${PUBLISHER:-} ${SERVER:-} 2>/dev/null || true; rm -rf "$TMP"' EXIT
start_onair_serve "$BIN" "$TMP"
"$BIN" publish --video test --audio tone --quality 3 --to "$RTMP/bench" \
    --duration $(((SECONDS_TO_WATCH + 12) * ROUNDS * 2 + 10)) >"$TMP/publish.log" 2>&1 &
PUBLISHER=$!
for i in $(seq 100); do curl -sf "$HTTP/live/bench/index.m3u8" >/dev/null && break; sleep 0.2; done
echo "| round | mode | glass-to-glass p50 ms | p95 ms | samples | startup s | stalls |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
    for mode in webrtc llhls; do
        node tests/browser/play.mjs "$HTTP/live/bench/" "$mode" "$SECONDS_TO_WATCH" >"$TMP/$mode-$round.json"
        python3 - "$TMP/$mode-$round.json" "$round" "$mode" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
g = r["glassToGlass"]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {g['p50']} | {g['p95']} | {g['count']} | {r['startupSeconds']} | {r['stalls']} |")
if r["errors"]:
    print("   errors:", r["errors"], file=sys.stderr)
PY
    done
done
