#!/usr/bin/env bash
# A/V sync after a long run: publishes the test pattern and tone for
# MINUTES (default 10) to nginx-rtmp recording to a file, then measures
# beep-versus-flash offsets over the last 30 s of the recording.
# Usage: benches/av_sync_soak.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:-10}"
BIN="${ONAIR_BIN:-target/release/onair}"
[ -x "$BIN" ] || cargo build --release
SO=/usr/lib/nginx/modules/ngx_rtmp_module.so
TMP="$(mktemp -d /tmp/onair-soak.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$TMP/record"
cat >"$TMP/nginx.conf" <<CONF
load_module $SO;
daemon off; master_process off; worker_processes 1;
pid $TMP/nginx.pid; error_log $TMP/error.log warn;
events { worker_connections 64; }
rtmp { server { listen 127.0.0.1:$PORT; application live { live on; record all; record_path $TMP/record; record_unique off; } } }
CONF
nginx -p "$TMP/" -c "$TMP/nginx.conf" -e "$TMP/error.log" &
NGINX=$!
trap 'kill $NGINX 2>/dev/null; rm -rf "$TMP"' EXIT
sleep 1
echo "publishing for $MINUTES min..." >&2
"$BIN" publish --quality 1 --to "rtmp://127.0.0.1:$PORT/live/soak" --duration "$((MINUTES * 60))" 2>/dev/null
sleep 2
FILE="$TMP/record/soak.flv"
START="$(python3 -c "print($MINUTES * 60 - 30)")"
ffprobe -v error -f lavfi -i "movie=$FILE:s=dv+da:seek_point=$START[v][a];[v]signalstats[out0];[a]asetnsamples=n=48,astats=metadata=1:reset=1[out1]" \
    -show_entries frame=media_type,pts_time:frame_tags=lavfi.signalstats.YAVG,lavfi.astats.Overall.Peak_level -of csv=p=0 >"$TMP/frames.csv"
python3 - "$TMP/frames.csv" "$MINUTES" <<'PY'
import sys
rows = [l.strip().split(',') for l in open(sys.argv[1]) if l.count(',') >= 2]
flashes, beeps, quiet, prev = [], [], True, False
for kind, t, v in rows:
    t = float(t); v = float(v) if v not in ('-inf', 'inf', '') else -200.0
    if kind == 'video':
        if v > 200 and not prev: flashes.append(t)
        prev = v > 200
    elif kind == 'audio':
        if v > -12 and quiet: beeps.append(t); quiet = False
        elif v < -15: quiet = True
offsets = [min((b - f for b in beeps), key=abs) for f in flashes if beeps]
offsets = [o for o in offsets if abs(o) < 0.5]
worst = max((abs(o) for o in offsets), default=float('nan'))
print(f"after {sys.argv[2]} min: {len(offsets)} flashes matched in the last 30 s, worst beep-vs-flash offset {worst * 1000:.1f} ms (one frame = 33.3 ms)")
PY
