#!/usr/bin/env bash
# HTTP delivery: onair serving a live segment / media playlist vs a plain nginx
# serving the same bytes from disk (sendfile on, access_log off, worker_processes 1).
#
# Starts `onair serve`, publishes a small live stream (320x240 testsrc2, libx264,
# 2 s GOP, -re) that keeps running through every wrk run so the segment stays in the
# window, copies one segment and the video media playlist into an nginx docroot under
# the same URL path, and runs `wrk -t2 -c256 -d10s` against four URLs.
#
# onair runs a tokio multi-thread runtime (one worker per core, 2 here); nginx has
# one worker process. wrk runs on the same machine and competes for the same cores.
#
# Usage: benches/http_vs_nginx.sh     (ONAIR_BIN=path, WRK_ARGS="-t2 -c256 -d10s")
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ONAIR_BIN:-$ROOT/target/release/onair}"
WRK_ARGS="${WRK_ARGS:--t2 -c256 -d10s}"
HOST=127.0.0.1   # where onair listens; nginx-static.conf listens here too
KEY=bench
[ -x "$BIN" ] || { echo "missing binary $BIN" >&2; exit 1; }

TMP="$(mktemp -d /tmp/onair-http-bench.XXXXXX)"
chmod 755 "$TMP"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
O_RTMP="$(free_port)"; O_HTTP="$(free_port)"; N_HTTP="$(free_port)"
while [ "$O_HTTP" = "$O_RTMP" ]; do O_HTTP="$(free_port)"; done
while [ "$N_HTTP" = "$O_RTMP" ] || [ "$N_HTTP" = "$O_HTTP" ]; do N_HTTP="$(free_port)"; done

ONAIR="http://$HOST:$O_HTTP"
NGINX="http://$HOST:$N_HTTP"
PL_PATH="/live/$KEY/video/playlist.m3u8"

# ---------------------------------------------------------------- onair + publisher
"$BIN" serve --webrtc 127.0.0.1:0 --rtmp "$HOST:$O_RTMP" --http "$HOST:$O_HTTP" >"$TMP/onair.log" 2>&1 &
ONAIR_PID=$!; PIDS+=("$ONAIR_PID")
wait_port "$HOST" "$O_HTTP" 20; wait_port "$HOST" "$O_RTMP" 20
grep '^onair:' "$TMP/onair.log" | sed 's/^/   /'

ffmpeg -hide_banner -loglevel error -nostdin -re \
    -f lavfi -i "testsrc2=size=320x240:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -t 600 -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p -g 60 -keyint_min 60 -sc_threshold 0 \
    -c:a aac -b:a 64k -f flv "rtmp://$HOST:$O_RTMP/live/$KEY" >"$TMP/pub.log" 2>&1 &
PUB_PID=$!; PIDS+=("$PUB_PID")

newest_seg() { curl -sf "$ONAIR$PL_PATH" | grep '^seg-' | tail -1; }
WINDOW=6   # onair's default [segments] window
echo "== waiting until the video playlist window is full ($WINDOW segments)"
for ((i = 0; i < 600; i++)); do
    n="$(curl -sf "$ONAIR$PL_PATH" | grep -c '^seg-' || true)"
    [ "${n:-0}" -ge "$WINDOW" ] && break
    kill -0 "$PUB_PID" 2>/dev/null || { echo "publisher died:" >&2; cat "$TMP/pub.log" >&2; exit 1; }
    sleep 0.1
done
[ "${n:-0}" -ge "$WINDOW" ] || { echo "window not full after 60 s" >&2; exit 1; }

# nginx docroot mirrors onair's URL paths; files are refreshed from onair right before each pair of runs
mkdir -p "$TMP/www/live/$KEY/video" "$TMP/logs" "$TMP/tmp"
chmod -R a+rX "$TMP/www"
mirror() { # path -> prints byte count
    curl -sf -o "$TMP/www$1.tmp" "$ONAIR$1"
    chmod a+r "$TMP/www$1.tmp"; mv "$TMP/www$1.tmp" "$TMP/www$1"
    stat -c %s "$TMP/www$1"
}
mirror "$PL_PATH" >/dev/null

USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user $(id -un) $(id -gn);"
sed -e "s|@USER@|$USER_LINE|" -e "s|@WORKERS@|1|" -e "s|@FILES@|4096|" -e "s|@PREFIX@|$TMP|" \
    -e "s|@PORT@|$N_HTTP|" -e "s|@ROOT@|$TMP/www|" "$ROOT/benches/support/nginx-static.conf" >"$TMP/nginx.conf"
nginx -p "$TMP/" -c "$TMP/nginx.conf" -e "$TMP/logs/error.log" >"$TMP/nginx.out" 2>&1 &
NGINX_PID=$!; PIDS+=("$NGINX_PID")
wait_port "$HOST" "$N_HTTP" 20
curl -sf -o /dev/null "$NGINX$PL_PATH" || { echo "nginx does not serve $PL_PATH" >&2; cat "$TMP/logs/error.log" >&2; exit 1; }

# ---------------------------------------------------------------- wrk
declare -A RPS BYTES ERRS LAT URLS
run_wrk() { # name url bytes
    local out
    kill -0 "$PUB_PID" 2>/dev/null || { echo "publisher died" >&2; exit 1; }
    out="$(wrk $WRK_ARGS --latency "$2" 2>&1)"
    echo "$out" >"$TMP/wrk-$1.txt"
    RPS[$1]="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
    LAT[$1]="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    ERRS[$1]="$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | paste -sd';' - || true)"
    BYTES[$1]="$3"; URLS[$1]="$2"
    printf '   %-15s %10s req/s  p99 %-8s %s  %s\n' "$1" "${RPS[$1]}" "${LAT[$1]}" "$2" "${ERRS[$1]}"
}

echo "== wrk $WRK_ARGS (publisher live throughout), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
SEG="$(newest_seg)"   # newest segment: stays listed for WINDOW*2 s = 12 s > one 10 s run
SEG_BYTES="$(mirror "/live/$KEY/video/$SEG")"
run_wrk onair-segment "$ONAIR/live/$KEY/video/$SEG" "$SEG_BYTES"
run_wrk nginx-segment "$NGINX/live/$KEY/video/$SEG" "$SEG_BYTES"
PL_BYTES="$(mirror "$PL_PATH")"  # onair's playlist changes every 2 s but keeps its size once the window is full
run_wrk onair-playlist "$ONAIR$PL_PATH" "$PL_BYTES"
run_wrk nginx-playlist "$NGINX$PL_PATH" "$PL_BYTES"

ratio() { python3 -c "import sys; a,b=map(float,sys.argv[1:]); print(f'{a/b:.2f}')" "$1" "$2"; }
echo
echo "| target | onair req/s | nginx req/s | onair/nginx | body bytes (onair / nginx) |"
echo "|---|---|---|---|---|"
echo "| live segment (.m4s) | ${RPS[onair-segment]} | ${RPS[nginx-segment]} | $(ratio "${RPS[onair-segment]}" "${RPS[nginx-segment]}") | ${BYTES[onair-segment]} / ${BYTES[nginx-segment]} |"
echo "| video media playlist | ${RPS[onair-playlist]} | ${RPS[nginx-playlist]} | $(ratio "${RPS[onair-playlist]}" "${RPS[nginx-playlist]}") | ${BYTES[onair-playlist]} / ${BYTES[nginx-playlist]} |"
