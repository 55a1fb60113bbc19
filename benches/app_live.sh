#!/usr/bin/env bash
# The whole desktop app live at 720p30 from the test pattern to its bundled
# server with the in-app HLS preview on, under Xvfb: process CPU (cores),
# peak memory, and UI frame build time p50/p99 (from the app's own log).
# With --ladder, 'Ladder for viewers' is ticked (as the app remembers it) and
# the run fails unless the bundled server reports its rungs being made.
# Usage: benches/app_live.sh [SECONDS] [--ladder]   (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_SECONDS=40
LADDER=""
for arg in "$@"; do
    case "$arg" in
        --ladder) LADDER=--ladder ;;
        *[!0-9]* | "") echo "usage: benches/app_live.sh [SECONDS] [--ladder]" >&2; exit 2 ;;
        *) RUN_SECONDS="$arg" ;;
    esac
done
BIN="${ONAIR_BIN:-target/release/onair}"
[ -x "$BIN" ] || cargo build --release
DISPLAY_NUMBER=":$((150 + RANDOM % 50))"
TMP="$(mktemp -d /tmp/onair-app-bench.XXXXXX)"
Xvfb "$DISPLAY_NUMBER" -screen 0 1366x768x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
trap 'kill $APP $XVFB 2>/dev/null; rm -rf "$TMP"' EXIT
APP=0
if [ "$LADDER" = --ladder ]; then
    mkdir -p "$TMP/.local/share/onair"
    echo '{ "app": "(ladder:true)" }' >"$TMP/.local/share/onair/app.ron"
fi
for _ in $(seq 50); do xdpyinfo -display "$DISPLAY_NUMBER" >/dev/null 2>&1 && break; sleep 0.1; done
# The app keeps its settings under XDG_DATA_HOME when set, else under HOME.
DISPLAY="$DISPLAY_NUMBER" HOME="$TMP" XDG_DATA_HOME="$TMP/.local/share" ONAIR_TEST_SOURCES=1 ONAIR_GO_LIVE=1 NO_COLOR=1 "$BIN" 2>"$TMP/app.log" &
APP=$!
for _ in $(seq 300); do grep -q "state: live" "$TMP/app.log" && break; sleep 0.1; done
sleep 5 # let the preview join
if [ "$LADDER" = --ladder ]; then
    HTTP="$(grep -o 'http://127.0.0.1:[0-9]*' "$TMP/app.log" | head -1)"
    RUNGS="$(curl -fsS "$HTTP/api/streams" | python3 -c 'import json,sys; print(" ".join(r["name"] for s in json.load(sys.stdin) for r in (s.get("ladder") or {}).get("rungs") or [] if r["frames"] > 0))')"
    [ -n "$RUNGS" ] || { echo "the ladder is not running: no rung has made a frame" >&2; exit 1; }
    echo "ladder rungs being made: $RUNGS"
fi
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
T0="$(cpu_ticks "$APP")"; W0="$(date +%s.%N)"
sleep "$RUN_SECONDS"
T1="$(cpu_ticks "$APP")"; W1="$(date +%s.%N)"
HWM="$(hwm_kb "$APP")"
FRAMES="$(grep 'ui frame time' "$TMP/app.log" | tail -1 | sed 's/.*ui frame time/ui frame time/')"
python3 -c "
t0,t1,w0,w1,hz,hwm=$T0,$T1,$W0,$W1,$(getconf CLK_TCK),$HWM
cores=(t1-t0)/hz/(w1-w0)
print(f'| app live 720p30 + HLS preview${LADDER:+, ladder on}, {w1-w0:.0f} s | {cores:.2f} cores | peak RSS {hwm/1024:.0f} MB | $FRAMES |')
"
