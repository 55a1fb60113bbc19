#!/usr/bin/env bash
# Capture-to-send latency of the engine: from the capture stamp of each video
# frame to the moment its bytes are handed to the socket, p50/p99 over the
# last 300 frames, publishing the 720p30 test pattern to a local `onair serve`.
# Usage: benches/capture_to_send.sh [SECONDS]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-30}"
BIN="${ONAIR_BIN:-target/release/onair}"
[ -x "$BIN" ] || cargo build --release
LOG="$(mktemp /tmp/onair-latency.XXXXXX)"
"$BIN" serve --webrtc 127.0.0.1:0 --no-ladder --rtmp 127.0.0.1:0 --http 127.0.0.1:0 >"$LOG" 2>/dev/null &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 100); do grep -q '^onair: RTMP' "$LOG" && break; sleep 0.1; done
URL="$(sed -n 's/^onair: RTMP ingest \(.*\)\/KEY$/\1/p' "$LOG")/latency"
"$BIN" publish --video test --audio tone --to "$URL" --quality 3 --duration "$SECONDS_TO_RUN" 2>&1 | tr '\r' '\n' | grep -v '^$' | tail -1
