#!/usr/bin/env bash
# The whole desktop app live at 1080p30 with a composed scene and its previews
# on, under a 1920x1080 Xvfb: the screen (MIT-SHM) as the background, the test
# pattern as a 480x270 picture-in-picture, a 256x256 PNG logo with alpha and a
# line of text; the test tone through the mixer; live to the bundled server,
# whose in-app LL-HLS player shows what viewers get. Measures the app's CPU
# over SECONDS (cores), split by thread: the software renderer (Mesa's
# llvmpipe threads, drawing the window without a GPU), the compositor, the
# encoder and the rest; and the X server's beside it.
# Usage: benches/app_scene.sh [SECONDS]   (ONAIR_BIN=path)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_MEASURED="${1:-20}"
BIN="${ONAIR_BIN:-target/release/onair}"
[ -x "$BIN" ] || cargo build --release
. benches/common.sh
TMP="$(mktemp -d /tmp/onair-app-scene.XXXXXX)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
start_xvfb 1920x1080

mkdir -p "$TMP/onair" "$TMP/config/onair" "$TMP/videos"
ffmpeg -v error -f lavfi -i "color=c=0xE03020@0.6:s=256x256,format=rgba" -frames:v 1 "$TMP/logo.png"
cat >"$TMP/config/onair/scenes.toml" <<SCENE
current = 0
[[scenes]]
name = "Screen and pattern"
[[scenes.layers]]
source = "screen"
[[scenes.layers]]
source = "test"
x = 1400
y = 770
width = 480
height = 270
[[scenes.layers]]
source = "image:$TMP/logo.png"
x = 40
y = 40
[[scenes.layers]]
source = "text:Live from the studio"
x = 40
y = 980
size = 56
SCENE
# 1080p30 on the knob, scenes on, the local server as the one target.
printf '{ "app": "(knob:5,use_scenes:true)" }\n' >"$TMP/onair/app.ron"
DISPLAY="$DISPLAY_NUMBER" HOME="$TMP" XDG_DATA_HOME="$TMP" XDG_CONFIG_HOME="$TMP/config" XDG_VIDEOS_DIR="$TMP/videos" \
    ONAIR_TEST_SOURCES=1 ONAIR_GO_LIVE=1 NO_COLOR=1 "$BIN" 2>"$TMP/app.log" &
APP=$!; PIDS+=("$APP")
for _ in $(seq 300); do grep -q "state: live" "$TMP/app.log" && break; sleep 0.1; done
grep -q "state: live" "$TMP/app.log" || { echo "the app did not go live:" >&2; tail -5 "$TMP/app.log" >&2; exit 1; }
sleep 8 # the player joins and the ladder-free server settles

# Ticks of every thread of the app, by thread name.
threads() { for task in /proc/"$APP"/task/*; do
    local s name; s="$(cat "$task/stat" 2>/dev/null)" || continue
    name="${s#*(}"; name="${name%%)*}"; s="${s##*) }"; set -- $s
    echo "$name $(( ${12} + ${13} ))"
done; }
before="$(threads)"; app0="$(cpu_ticks "$APP")"; x0="$(cpu_ticks "$XVFB")"
sleep "$SECONDS_MEASURED"
after="$(threads)"; app1="$(cpu_ticks "$APP")"; x1="$(cpu_ticks "$XVFB")"
HZ="$(getconf CLK_TCK)"
cores() { python3 -c "print(f'{$1 / ($HZ * $SECONDS_MEASURED):.2f}')"; }
# By thread name, llvmpipe's threads together.
python3 - "$HZ" "$SECONDS_MEASURED" <<PY
import sys, collections
hz, seconds = int(sys.argv[1]), float(sys.argv[2])
def read(text):
    ticks = collections.Counter()
    for line in text.strip().splitlines():
        name, value = line.rsplit(" ", 1)
        ticks[name] += int(value)
    return ticks
before, after = read("""$before"""), read("""$after""")
groups = collections.Counter()
for name in after:
    spent = after[name] - before.get(name, 0)
    groups["renderer (llvmpipe threads)" if name.startswith("llvmpipe") else name] += spent
for group, spent in sorted(groups.items(), key=lambda g: -g[1]):
    if spent / (hz * seconds) >= 0.01:
        print(f"  {group}: {spent / (hz * seconds):.2f} cores")
PY
# What the bundled server received, as a check that the stream ran at 1080p30.
HTTP="$(grep -o 'http://127.0.0.1:[0-9]*' "$TMP/app.log" | head -1)"
curl -s "$HTTP/api/streams" | python3 -c 'import json,sys; print("received:", [{k: x.get(k) for k in ("key", "width", "height", "fps")} for x in json.load(sys.stdin)])'
echo "app: $(cores $((app1 - app0))) cores over ${SECONDS_MEASURED} s at 1080p30 (goal <= 1.5)"
echo "X server: $(cores $((x1 - x0))) cores"
grep -E "frame time|state:" "$TMP/app.log" | tail -3
