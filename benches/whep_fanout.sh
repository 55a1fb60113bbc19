#!/usr/bin/env bash
# WHEP fan-out: viewers one core of `onair serve` feeds at 720p30 2.5 Mbit/s.
# A 10 s x264 clip (baseline, keyframe every second, 2.5 Mbit/s CBR, AAC) is
# made once and published over RTMP in a loop without re-encoding, so the
# publisher costs next to nothing; benches/whep_fanout.rs then adds real
# WebRTC viewers step by step and prints, per step, the server's CPU,
# viewers per core, what each viewer received, loss and memory per viewer.
# Usage: benches/whep_fanout.sh ["STEPS"] [SECONDS]   (defaults "100 200 300 400 500", 10)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-100 200 300 400 500}"
MEASURE="${2:-10}"
BIN="${ONAIR_BIN:-target/release/onair}"
[ -x "$BIN" ] || cargo build --release --locked
# The load tool is mostly str0m, optimised in every profile: the dev build serves.
cargo bench --locked --profile dev --bench whep_fanout --no-run >/dev/null 2>&1
TMP="$(mktemp -d /tmp/onair-whep-fanout.XXXXXX)"
. benches/common.sh
SERVER= PUBLISHER=
trap 'kill ${PUBLISHER:-} ${SERVER:-} 2>/dev/null || true; rm -rf "$TMP"' EXIT
ffmpeg -v error -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 10 \
    -c:v libx264 -preset veryfast -profile:v baseline -bf 0 -g 30 -b:v 2500k -maxrate 2500k -bufsize 1250k -x264-params nal-hrd=cbr \
    -pix_fmt yuv420p -c:a aac -b:a 128k -ac 2 "$TMP/clip.mp4"
start_onair_serve "$BIN" "$TMP"
ffmpeg -v error -re -stream_loop -1 -i "$TMP/clip.mp4" -c copy -f flv "$RTMP/fan" &
PUBLISHER=$!
for i in $(seq 100); do curl -sf "$HTTP/live/fan/index.m3u8" >/dev/null && break; sleep 0.2; done
echo "onair serve PID $SERVER, $(nproc) cores; 720p30 2.5 Mbit/s x264 baseline + AAC over RTMP; $MEASURE s per step"
cargo bench --locked --profile dev --bench whep_fanout -- "$HTTP" fan "$SERVER" "$STEPS" "$MEASURE"
