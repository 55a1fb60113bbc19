#!/usr/bin/env bash
# Photographs the desktop app under Xvfb in each state a streamer meets:
# before Go Live (preview and meter running), live to the bundled server
# over WebRTC (WHIP), live to two targets,
# reconnecting (one target's server stopped under it, the other live),
# failed (a target that never answers) and recording while live. Writes target/screenshots/app-{ready,webrtc,live,reconnecting,failed,recording}.png.
# Usage: benches/app_states.sh   (ONAIR_BIN=path)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${ONAIR_BIN:-target/release/onair}"
[ -x "$BIN" ] || cargo build --release
. benches/common.sh
OUT=target/screenshots
mkdir -p "$OUT"
TMP="$(mktemp -d /tmp/onair-app-states.XXXXXX)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
start_xvfb 1366x768

# A server of its own for the custom target, to stop under the live app.
RTMP="$(free_port)"; HTTP="$(free_port)"
"$BIN" serve --webrtc 127.0.0.1:0 --rtmp "127.0.0.1:$RTMP" --srt 127.0.0.1:0 --http "127.0.0.1:$HTTP" --no-ladder >"$TMP/serve.log" 2>&1 &
SERVE=$!; PIDS+=("$SERVE")
wait_port 127.0.0.1 "$HTTP" 20
CLOSED="$(free_port)"

app() { # name settings-ron go-live [record]; the custom target's key is "studio"
    mkdir -p "$TMP/$1/onair" "$TMP/$1/config/onair"
    printf '{ "app": "%s" }\n' "$2" >"$TMP/$1/onair/app.ron"
    printf '[targets.2]\nkey = "studio"\n' >"$TMP/$1/config/onair/secrets.toml"
    DISPLAY="$DISPLAY_NUMBER" HOME="$TMP/$1" XDG_DATA_HOME="$TMP/$1" XDG_CONFIG_HOME="$TMP/$1/config" XDG_VIDEOS_DIR="$TMP/$1/videos" \
        ONAIR_TEST_SOURCES=1 ONAIR_GO_LIVE="$3" ONAIR_RECORD="${4:-0}" NO_COLOR=1 "$BIN" 2>"$TMP/$1.log" &
    APP=$!; PIDS+=("$APP")
}
# The settings' target list: the custom one at $1, the local server too when $2 is true.
targets() { printf '(targets:[(id:1,name:\\"Local server\\",enabled:%s,kind:LocalRtmp),(id:2,name:\\"Platform\\",enabled:true,kind:CustomRtmp,url:\\"%s\\")])' "$2" "$1"; }
shot() { import -display "$DISPLAY_NUMBER" -window root "$OUT/app-$1.png"; echo "$OUT/app-$1.png"; }
wait_log() { for _ in $(seq 300); do grep -q "$2" "$TMP/$1.log" && return 0; sleep 0.1; done; echo "no '$2' in the $1 log" >&2; tail -5 "$TMP/$1.log" >&2; exit 1; }

app recording "$(targets "rtmp://127.0.0.1:$RTMP/live" false)" 1 1
wait_log recording "recording to"
sleep 5
shot recording
kill "$APP"; wait "$APP" 2>/dev/null || true

app ready '(knob:3)' 0
wait_log ready "bundled server"
sleep 3 # the source preview and the meter fill in
shot ready
kill "$APP"; wait "$APP" 2>/dev/null || true

app webrtc '(targets:[(id:1,name:\"Local server\",enabled:true,kind:LocalWebRtc)])' 1
wait_log webrtc "state: live"
sleep 4
shot webrtc
kill "$APP"; wait "$APP" 2>/dev/null || true

app failed "$(targets "rtmp://127.0.0.1:$CLOSED/live" false)" 1
wait_log failed "could not connect"
sleep 1
shot failed
kill "$APP"; wait "$APP" 2>/dev/null || true

app live "$(targets "rtmp://127.0.0.1:$RTMP/live" true)" 1
wait_log live "state: live"
sleep 4
shot live
kill "$SERVE"; wait "$SERVE" 2>/dev/null || true
wait_log live "connection lost"
sleep 1
shot reconnecting
