#!/usr/bin/env bash
# Ingest cost: onair vs nginx-rtmp, both packaging one RTMP publish into HLS + DASH.
#
# Makes (once, cached in benches/.cache/) a 60 s 1080p30 ~6 Mbit/s H.264 + AAC 128k
# FLV file, then starts `onair serve` and a single-process nginx with the rtmp
# module (hls on + dash on, 2 s fragments), publishes the same file to both AT THE
# SAME TIME with `ffmpeg -re -c copy`, and samples each server process's CPU time
# (utime+stime from /proc/PID/stat) before and after, plus peak RSS (VmHWM).
#
# Usage: benches/ingest_vs_nginx_rtmp.sh [--prepare-only]
#   ONAIR_BIN=path   binary to test (default target/release/onair)
#   NGINX_RTMP_SO=path  rtmp module (default: looked up under /usr/lib/nginx/modules)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ONAIR_BIN:-$ROOT/target/release/onair}"
CACHE="$ROOT/benches/.cache"
FILE="$CACHE/ingest_1080p30_6M_60s.flv"
HOST=127.0.0.1

mkdir -p "$CACHE"
[ -f "$CACHE/.gitignore" ] || echo '*' >"$CACHE/.gitignore"

# ---------------------------------------------------------------- test file
if [ ! -s "$FILE" ]; then
    echo "== encoding $FILE (60 s 1080p30 x264 veryfast 6M CBR-ish, GOP 60, AAC 128k) — this takes a while"
    ffmpeg -hide_banner -loglevel error -stats -y \
        -f lavfi -i "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t+u" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000" \
        -t 60 \
        -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -keyint_min 60 -sc_threshold 0 \
        -b:v 6M -maxrate 6M -bufsize 12M \
        -c:a aac -b:a 128k -ac 2 \
        -f flv "$FILE.tmp"
    mv "$FILE.tmp" "$FILE"
fi
echo "== input: $FILE"
ffprobe -v error -show_entries format=duration,bit_rate -of default=nw=1 "$FILE" | sed 's/^/   /'
[ "${1:-}" = "--prepare-only" ] && exit 0

# ---------------------------------------------------------------- helpers
[ -x "$BIN" ] || { echo "missing binary $BIN" >&2; exit 1; }

TICKS="$(getconf CLK_TCK)"
TMP="$(mktemp -d /tmp/onair-ingest-bench.XXXXXX)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SO="$(nginx_rtmp_module)"

O_RTMP="$(free_port)"; O_HTTP="$(free_port)"; N_RTMP="$(free_port)"
while [ "$O_HTTP" = "$O_RTMP" ]; do O_HTTP="$(free_port)"; done
while [ "$N_RTMP" = "$O_RTMP" ] || [ "$N_RTMP" = "$O_HTTP" ]; do N_RTMP="$(free_port)"; done

# ---------------------------------------------------------------- onair
"$BIN" serve --webrtc 127.0.0.1:0 --no-ladder --rtmp "$HOST:$O_RTMP" --http "$HOST:$O_HTTP" >"$TMP/onair.log" 2>&1 &
ONAIR_PID=$!; PIDS+=("$ONAIR_PID")
wait_port "$HOST" "$O_HTTP" 20
wait_port "$HOST" "$O_RTMP" 20
grep '^onair:' "$TMP/onair.log" | sed 's/^/   /'

# ---------------------------------------------------------------- nginx-rtmp
mkdir -p "$TMP/hls" "$TMP/dash" "$TMP/logs"
nginx_rtmp_preamble "$SO" "$TMP" >"$TMP/nginx.conf"
cat >>"$TMP/nginx.conf" <<EOF
rtmp {
    server {
        listen $HOST:$N_RTMP;
        chunk_size 4096;
        application live {
            live on;
            hls on;
            hls_path $TMP/hls;
            hls_fragment 2s;
            dash on;
            dash_path $TMP/dash;
            dash_fragment 2s;
        }
    }
}
EOF
nginx -p "$TMP/" -c "$TMP/nginx.conf" -e "$TMP/logs/error.log" >"$TMP/nginx.out" 2>&1 &
NGINX_PID=$!; PIDS+=("$NGINX_PID")
wait_port "$HOST" "$N_RTMP" 20
echo "   nginx $(nginx -v 2>&1 | sed 's/.*\///') + rtmp module $SO, single process (master_process off), pid $NGINX_PID, rtmp://$HOST:$N_RTMP/live/KEY"
sleep 1

# ---------------------------------------------------------------- run
echo "== publishing the same file to both at once (ffmpeg -re -c copy), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
O_IDLE="$(hwm_kb "$ONAIR_PID")"; N_IDLE="$(hwm_kb "$NGINX_PID")"
O0="$(cpu_ticks "$ONAIR_PID")"; N0="$(cpu_ticks "$NGINX_PID")"; T0="$(date +%s.%N)"
ffmpeg -hide_banner -loglevel error -nostdin -re -i "$FILE" -c copy -f flv "rtmp://$HOST:$O_RTMP/live/bench" >"$TMP/pub-onair.log" 2>&1 &
PUB_O=$!; PIDS+=("$PUB_O")
ffmpeg -hide_banner -loglevel error -nostdin -re -i "$FILE" -c copy -f flv "rtmp://$HOST:$N_RTMP/live/bench" >"$TMP/pub-nginx.log" 2>&1 &
PUB_N=$!; PIDS+=("$PUB_N")

sleep 30
O_SEGS="$(curl -sf "http://$HOST:$O_HTTP/live/bench/video/playlist.m3u8" | grep -c '^seg-' || true)"
O_MPD="$(curl -sf -o /dev/null -w '%{http_code}' "http://$HOST:$O_HTTP/live/bench/manifest.mpd" || true)"
N_TS="$(find "$TMP/hls" -name '*.ts' | wc -l)"; N_M4="$(find "$TMP/dash" -name '*.m4*' | wc -l)"
echo "   at ~30 s: onair video playlist lists $O_SEGS segments, manifest.mpd HTTP $O_MPD; nginx wrote $N_TS .ts files (hls), $N_M4 .m4a/.m4v files (dash)"

RC_O=0; RC_N=0
wait "$PUB_O" || RC_O=$?
wait "$PUB_N" || RC_N=$?
O1="$(cpu_ticks "$ONAIR_PID")"; N1="$(cpu_ticks "$NGINX_PID")"; T1="$(date +%s.%N)"
O_HWM="$(hwm_kb "$ONAIR_PID")"; N_HWM="$(hwm_kb "$NGINX_PID")"
O_RSS="$(awk '/^VmRSS:/ {print $2}' "/proc/$ONAIR_PID/status")"
if [ "$RC_O" != 0 ] || [ "$RC_N" != 0 ]; then
    echo "publisher failed: onair rc=$RC_O nginx rc=$RC_N" >&2
    tail -5 "$TMP/pub-onair.log" "$TMP/pub-nginx.log" "$TMP/logs/error.log" >&2 || true
    exit 1
fi

python3 - "$TICKS" "$T0" "$T1" "$O0" "$O1" "$N0" "$N1" "$O_HWM" "$N_HWM" "$O_IDLE" "$N_IDLE" "$O_RSS" <<'EOF'
import sys
ticks, t0, t1 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
o0, o1, n0, n1, ohwm, nhwm, oidle, nidle, orss = map(int, sys.argv[4:])
wall = t1 - t0
oc, nc = (o1 - o0) / ticks, (n1 - n0) / ticks
ratio = f"{oc / nc:.2f}" if nc > 0 else "n/a"
print(f"\nwall {wall:.1f} s (both publishers concurrent), CLK_TCK={ticks}\n")
print("| server | CPU s | CPU % of one core | idle RSS MB | peak RSS (VmHWM) MB | peak - idle (per stream) MB |")
print("|---|---|---|---|---|---|")
print(f"| onair | {oc:.2f} | {100 * oc / wall:.1f} | {oidle / 1024:.1f} | {ohwm / 1024:.1f} | {(ohwm - oidle) / 1024:.1f} |")
print(f"| nginx-rtmp (hls+dash) | {nc:.2f} | {100 * nc / wall:.1f} | {nidle / 1024:.1f} | {nhwm / 1024:.1f} | {(nhwm - nidle) / 1024:.1f} |")
print(f"\nonair RSS after the stream ended (window still held): {orss / 1024:.1f} MB")
print(f"\nCPU ratio onair/nginx: {ratio}; RSS ratio onair/nginx: {ohwm / nhwm:.2f}")
EOF
