#!/usr/bin/env bash
# Glass to glass through a composed scene against the plain test pattern, in
# the same run: each is published at 720p30 to a local `onair serve` and
# watched with the app's preview player (`onair watch`, LL-HLS), which reads
# the capture stamp from every decoded picture. The scene is the test pattern
# as a full-canvas layer with a colour and a text over part of it, so what
# differs is the compositor (its thread, the layer copies, the frame grid).
# Usage: benches/scene_latency.sh [SECONDS] [ROUNDS]   (defaults 20, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_WATCH="${1:-20}"
ROUNDS="${2:-2}"
BIN="${ONAIR_BIN:-target/release/onair}"
[ -x "$BIN" ] || cargo build --release
TMP="$(mktemp -d /tmp/onair-scene-latency.XXXXXX)"
. benches/common.sh
SERVER=
trap 'kill ${SERVER:-} 2>/dev/null || true; rm -rf "$TMP"' EXIT
start_onair_serve "$BIN" "$TMP"
cat >"$TMP/scene.toml" <<'SCENE'
name = "bench"
[[layers]]
source = "test"
[[layers]]
source = "color:#202020"
x = 900
y = 40
width = 340
height = 120
[[layers]]
source = "text:LIVE"
x = 940
y = 60
size = 64
SCENE
one() { # name publish-args...
    local name="$1"; shift
    "$BIN" publish "$@" --audio tone --quality 3 --to "$RTMP/$name" --duration $((SECONDS_TO_WATCH + 8)) >/dev/null 2>&1 &
    local publisher=$!
    sleep 4
    printf '%-8s ' "$name"
    "$BIN" watch "$HTTP/live/$name/video/playlist.m3u8" --seconds "$SECONDS_TO_WATCH" 2>/dev/null | grep -o 'p50 [0-9]* ms, p95 [0-9]* ms over [0-9]* pictures'
    wait "$publisher" || true
}
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    one "plain$round" --video test
    one "scene$round" --scene "$TMP/scene.toml"
done
