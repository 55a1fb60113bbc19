#!/usr/bin/env bash
# Glass-to-glass latency in headless Chromium, from the capture stamp drawn
# into each frame to the wall clock when the browser shows it: onair's LL-HLS,
# classic HLS and low-latency DASH, and nginx-rtmp's HLS fed the same
# publisher in the same run (nginx pushes the stream on to onair).
#
# `onair publish` sends the 720p30 test pattern with a keyframe every second
# to nginx-rtmp (hls_fragment 1s), which pushes it to `onair serve` (1 s
# segments, 1/3 s parts). tests/browser/play.mjs plays each for SECONDS and reads the
# stamp from decoded frames drawn to a canvas; prints p50/p95 per player.
# Usage: benches/glass_to_glass.sh [SECONDS]   (default 30; ONAIR_BIN=path;
# G2G_ONLY=llhls|app|dash|hls plays that mode alone; G2G_SAMPLES=1 prints each sample)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_EACH="${1:-30}"
BIN="${ONAIR_BIN:-$ROOT/target/release/onair}"
[ -x "$BIN" ] || cargo build --release
. "$ROOT/benches/common.sh"
SO="$(nginx_rtmp_module)"
TMP="$(mktemp -d /tmp/onair-g2g.XXXXXX)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -n "${G2G_DEBUG:-}" ] && grep -E "WARN|ERROR|\[error\]|\[crit\]|\[alert\]" "$TMP/onair.err" "$TMP/logs/error.log" >&2
    rm -rf "$TMP"
}
trap cleanup EXIT

O_RTMP="$(free_port)"; O_HTTP="$(free_port)"; N_RTMP="$(free_port)"; N_HTTP="$(free_port)"
printf '[rtmp]\nlisten = "127.0.0.1:%s"\n[srt]\nlisten = "127.0.0.1:0"\n[http]\nlisten = "127.0.0.1:%s"\n[segments]\ntarget_ms = 1000\n[ladder]\nenabled = false\n' "$O_RTMP" "$O_HTTP" >"$TMP/onair.toml"
"$BIN" serve --config "$TMP/onair.toml" >"$TMP/onair.out" 2>"$TMP/onair.err" &
PIDS+=($!)
wait_port 127.0.0.1 "$O_HTTP" 20

mkdir -p "$TMP/hls" "$TMP/logs"
chmod 755 "$TMP" # nginx's worker reads the page and writes fragments as its own user
# The same page, pointed at nginx's playlist, with the same embedded players.
sed -e 's/{{KEY}}/g2g/g' -e 's/{{PLAYERS}}/hls.js dash.js/' assets/player.html >"$TMP/page.html"
nginx_rtmp_preamble "$SO" "$TMP" >"$TMP/nginx.conf"
cat >>"$TMP/nginx.conf" <<EOF
rtmp {
    server {
        listen 127.0.0.1:$N_RTMP;
        application live {
            live on;
            hls on;
            hls_path $TMP/hls;
            hls_fragment 1s;
            hls_playlist_length 6s;
            push rtmp://127.0.0.1:$O_RTMP/live;
        }
    }
}
http {
    access_log off;
    types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; text/html html; text/javascript js; }
    server {
        listen 127.0.0.1:$N_HTTP;
        location = /live/g2g/ { root $TMP; default_type text/html; try_files /page.html =404; }
        location = /live/g2g/index.m3u8 { alias $TMP/hls/g2g.m3u8; add_header Cache-Control no-cache; }
        location /live/g2g/ { alias $TMP/hls/; }
        location = /assets/hls.min.js { alias $ROOT/node_modules/hls.js/dist/hls.min.js; }
        location = /assets/dash.all.min.js { alias $ROOT/node_modules/dashjs/dist/dash.all.min.js; }
        location = /assets/stamp.js { alias $ROOT/assets/stamp.js; }
    }
}
EOF
nginx -p "$TMP/" -c "$TMP/nginx.conf" -e "$TMP/logs/error.log" >"$TMP/nginx.out" 2>&1 &
PIDS+=($!)
wait_port 127.0.0.1 "$N_RTMP" 20

TOTAL=$((SECONDS_EACH * 5 + 60))
"$BIN" publish --video test --audio tone --quality 3 --keyframe-interval 1 --duration "$TOTAL" --to "rtmp://127.0.0.1:$N_RTMP/live/g2g" >/dev/null 2>"$TMP/publish.err" &
PIDS+=($!)
for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$O_HTTP/live/g2g/index.m3u8" >/dev/null && [ -s "$TMP/hls/g2g.m3u8" ] && break
    sleep 0.1
done
sleep 6 # a few fragments in nginx's playlist before its player starts

report() { # label url mode
    [ -n "${G2G_ONLY:-}" ] && [ "$G2G_ONLY" != "$3" ] && return 0
    local json
    json="$(node tests/browser/play.mjs "$2" "$3" "$SECONDS_EACH" | tail -1)"
    [ -n "${G2G_DEBUG:-}${G2G_SAMPLES:-}" ] && echo "$json" >&2
    python3 - "$1" "$json" <<'EOF'
import json, sys
label, r = sys.argv[1], json.loads(sys.argv[2])
g = r.get("glassToGlass") or {}
ms = lambda v: "–" if v is None else f"{v:.0f}"
print(f"| {label} | {g.get('count', 0)} | {ms(g.get('p50'))} | {ms(g.get('p95'))} | {r.get('advanced', 0):.1f} s | {r.get('stalls', 0)} | {'; '.join(r.get('errors', []))[:80]} |")
EOF
}
echo "| player | samples | glass-to-glass p50 ms | p95 ms | played | stalls | errors |"
echo "|---|---|---|---|---|---|---|"
report "onair LL-HLS (hls.js low-latency)" "http://127.0.0.1:$O_HTTP/live/g2g/" llhls
if [ -z "${G2G_ONLY:-}" ] || [ "$G2G_ONLY" = app ]; then
    # The desktop app's preview player (`onair watch` runs it without a window), same publisher.
    "$BIN" watch "http://127.0.0.1:$O_HTTP/live/g2g/video/playlist.m3u8" --seconds "$SECONDS_EACH" 2>>"$TMP/watch.err" \
        | sed -E 's/^glass-to-glass p50 ([0-9]+) ms, p95 ([0-9]+) ms over ([0-9]+) pictures.*/| onair LL-HLS in the app'"'"'s preview player | \3 | \1 | \2 | – | – | |/'
fi
report "onair LL-DASH (dash.js low-latency)" "http://127.0.0.1:$O_HTTP/live/g2g/" dash
report "onair HLS, 1 s segments (hls.js, 3 segments back)" "http://127.0.0.1:$O_HTTP/live/g2g/" hls
report "nginx-rtmp HLS, 1 s fragments (hls.js)" "http://127.0.0.1:$N_HTTP/live/g2g/" hls
