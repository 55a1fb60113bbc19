#!/usr/bin/env bash
# One encode, several places, measured in one run:
#   studio: `onair publish` (720p30 test pattern) to one target, to three (two RTMP, one SRT),
#           and to one with `--record` (its CPU from the kernel's accounting of the process);
#   server: `onair serve` forwarding one 1080p30 6 Mbit/s RTMP stream to two destinations
#           ([[forward]]) against nginx-rtmp's `push` of the same file to the same two, at once.
# The destinations are `onair serve` sinks whose CPU is not counted.
#
# Usage: benches/multistream.sh [SECONDS]   ONAIR_BIN=path (default target/release/onair)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ONAIR_BIN:-$ROOT/target/release/onair}"
SECS="${1:-30}"
FILE="$ROOT/benches/.cache/ingest_1080p30_6M_60s.flv"
HOST=127.0.0.1
[ -x "$BIN" ] || { echo "missing binary $BIN (cargo build --release)" >&2; exit 1; }
[ -s "$FILE" ] || "$ROOT/benches/ingest_vs_nginx_rtmp.sh" --prepare-only
. "$ROOT/benches/common.sh"
TICKS="$(getconf CLK_TCK)"
TMP="$(mktemp -d /tmp/onair-multistream.XXXXXX)"
PIDS=()
trap stop_all EXIT

# An `onair serve` sink on fresh ports, left in SINK_RTMP and SINK_SRT (not in a
# subshell, so its PID reaches PIDS and it is stopped at the end).
sink() { # name
    local http
    SINK_RTMP="$(free_port)"; SINK_SRT="$(free_port)"; http="$(free_port)"
    NO_COLOR=1 "$BIN" serve --no-ladder --rtmp "$HOST:$SINK_RTMP" --srt "$HOST:$SINK_SRT" --http "$HOST:$http" >"$TMP/sink-$1.log" 2>&1 &
    PIDS+=("$!")
    wait_port "$HOST" "$http" 20
}
sink a; A_RTMP="$SINK_RTMP"
sink b; B_RTMP="$SINK_RTMP"; B_SRT="$SINK_SRT"
sink c; C_RTMP="$SINK_RTMP"

# CPU seconds (user + system) of one `onair publish` run with these extra arguments.
publish_cpu() {
    local times
    times="$(bash -c '"$@" >/dev/null 2>&1; times' _ "$BIN" publish --video test --audio tone --quality 3 --duration "$SECS" "$@" | tail -1)"
    python3 -c 'import re,sys; total = sum(int(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", sys.argv[1])); print("%.2f" % total)' "$times"
}

echo "== studio: $SECS s of 720p30 per case, one after another"
ONE="$(publish_cpu --to "rtmp://$HOST:$A_RTMP/live/one")"
THREE="$(publish_cpu --to "rtmp://$HOST:$A_RTMP/live/three" --to "srt://$HOST:$B_SRT?streamid=publish:live/three" --to "rtmp://$HOST:$C_RTMP/live/three")"
RECORDED="$(publish_cpu --to "rtmp://$HOST:$A_RTMP/live/rec" --record "$TMP/recording.mp4")"
RECORDING_MB="$(du -m "$TMP/recording.mp4" | cut -f1)"

echo "== server: forwarding $SECS s of $FILE to two destinations, onair and nginx-rtmp at once"
O_RTMP="$(free_port)"; O_HTTP="$(free_port)"; O_SRT="$(free_port)"; N_RTMP="$(free_port)"
printf '[rtmp]\nlisten = "%s:%s"\n[srt]\nlisten = "%s:%s"\n[http]\nlisten = "%s:%s"\n[ladder]\nenabled = false\n[[forward]]\nurl = "rtmp://%s:%s/live/{key}"\n[[forward]]\nurl = "rtmp://%s:%s/live/{key}"\n' \
    "$HOST" "$O_RTMP" "$HOST" "$O_SRT" "$HOST" "$O_HTTP" "$HOST" "$B_RTMP" "$HOST" "$C_RTMP" >"$TMP/origin.toml"
"$BIN" serve --config "$TMP/origin.toml" >"$TMP/origin.log" 2>&1 &
ORIGIN=$!; PIDS+=("$ORIGIN")
wait_port "$HOST" "$O_HTTP" 20
mkdir -p "$TMP/logs"
{ nginx_rtmp_preamble "$(nginx_rtmp_module)" "$TMP"
  echo "rtmp { server { listen $HOST:$N_RTMP; application live { live on; push rtmp://$HOST:$B_RTMP/live; push rtmp://$HOST:$C_RTMP/live; } } }"; } >"$TMP/nginx.conf"
nginx -p "$TMP/" -c "$TMP/nginx.conf" -e "$TMP/logs/error.log" >"$TMP/nginx.out" 2>&1 &
NGINX=$!; PIDS+=("$NGINX")
wait_port "$HOST" "$N_RTMP" 20
O0="$(cpu_ticks "$ORIGIN")"; N0="$(cpu_ticks "$NGINX")"
ffmpeg -hide_banner -loglevel error -nostdin -re -i "$FILE" -t "$SECS" -c copy -f flv "rtmp://$HOST:$O_RTMP/live/by-onair" &
P1=$!
ffmpeg -hide_banner -loglevel error -nostdin -re -i "$FILE" -t "$SECS" -c copy -f flv "rtmp://$HOST:$N_RTMP/live/by-nginx" &
P2=$!
sleep $((SECS / 2))
FORWARDS="$(curl -sf "http://$HOST:$O_HTTP/api/streams" | python3 -c 'import json,sys; print(" ".join(f["state"] for s in json.load(sys.stdin) for f in s["forwards"]))')"
wait "$P1" "$P2"
O1="$(cpu_ticks "$ORIGIN")"; N1="$(cpu_ticks "$NGINX")"
ARRIVED="$(cat "$TMP"/sink-*.log | grep -o 'publishing over RTMP.*key="by-[a-z]*"' | sed 's/.*key=//' | sort | tr '\n' ' ' || true)"

python3 - "$ONE" "$THREE" "$RECORDED" "$RECORDING_MB" "$O0" "$O1" "$N0" "$N1" "$TICKS" "$SECS" "$FORWARDS" "$ARRIVED" <<'PY'
import sys
one, three, recorded = map(float, sys.argv[1:4])
mb = sys.argv[4]
o0, o1, n0, n1, ticks, secs = map(int, sys.argv[5:11])
forwards, arrived = sys.argv[11], sys.argv[12]
print()
print("| studio, 720p30 for %d s | CPU s | × one target |" % secs)
print("|---|---|---|")
print(f"| one RTMP target | {one:.2f} | 1.00 |")
print(f"| three targets (RTMP, SRT, RTMP), one encode | {three:.2f} | {three / one:.2f} |")
print(f"| one target + --record ({mb} MB written) | {recorded:.2f} | {recorded / one:.2f} (recording: {100 * (recorded - one) / secs:.1f} % of a core) |")
oc, nc = (o1 - o0) / ticks, (n1 - n0) / ticks
print()
print("| server, one 1080p30 6 Mbit/s stream forwarded to two destinations | CPU s |")
print("|---|---|")
print(f"| onair serve ([[forward]] ×2, plus its own HLS/DASH packaging) | {oc:.2f} |")
print(f"| nginx-rtmp (push ×2) | {nc:.2f} |")
print(f"\nforward ratio onair/nginx: {oc / nc:.2f}" if nc > 0 else "\nnginx used no CPU")
print(f"onair's forwards mid-run: {forwards}; streams the sinks got: {arrived}")
PY
