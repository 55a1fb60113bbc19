#!/usr/bin/env bash
# One encode, several places, measured in one run:
#   studio: `onair publish` (720p30 test pattern) to one target, to three (two RTMP, one SRT),
#           and to one with `--record` (its CPU from the kernel's accounting of the process),
#           ROUNDS rounds of the three cases in turn; medians.
#   server: one 1080p30 6 Mbit/s RTMP stream into two servers at once, three pairs in turn:
#           onair [[forward]] ×2 against nginx-rtmp `push` ×2; the same against nginx-rtmp
#           push ×2 with hls + dash on (the packaging onair always does); and onair with
#           [record] against onair without (the server's recording overhead).
# The destinations are `onair serve` sinks whose CPU is not counted. With two cores or more
# the sinks and the ffmpeg publishers run on the last core and what is measured on the
# others (taskset), so the sinks' packaging of three streams does not slow the studio's
# encoder and pass for its cost.
#
# Usage: benches/multistream.sh [SECONDS] [ROUNDS]   ONAIR_BIN=path (default target/release/onair)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ONAIR_BIN:-$ROOT/target/release/onair}"
SECS="${1:-30}"
ROUNDS="${2:-3}"
FILE="$ROOT/benches/.cache/ingest_1080p30_6M_60s.flv"
HOST=127.0.0.1
[ -x "$BIN" ] || { echo "missing binary $BIN (cargo build --release)" >&2; exit 1; }
[ -s "$FILE" ] || "$ROOT/benches/ingest_vs_nginx_rtmp.sh" --prepare-only
. "$ROOT/benches/common.sh"
TICKS="$(getconf CLK_TCK)"
LAST_CPU=$(( $(nproc) - 1 ))
if [ "$LAST_CPU" -ge 1 ]; then SINK_CPUS=(taskset -c "$LAST_CPU"); MEASURED_CPUS=(taskset -c "0-$((LAST_CPU - 1))"); else SINK_CPUS=(); MEASURED_CPUS=(); fi
TMP="$(mktemp -d /tmp/onair-multistream.XXXXXX)"
PIDS=()
trap stop_all EXIT

# An `onair serve` sink on fresh ports, left in SINK_RTMP and SINK_SRT (not in a
# subshell, so its PID reaches PIDS and it is stopped at the end).
sink() { # name
    local http
    SINK_RTMP="$(free_port)"; SINK_SRT="$(free_port)"; http="$(free_port)"
    NO_COLOR=1 "${SINK_CPUS[@]}" "$BIN" serve --webrtc 127.0.0.1:0 --no-ladder --rtmp "$HOST:$SINK_RTMP" --srt "$HOST:$SINK_SRT" --http "$HOST:$http" >"$TMP/sink-$1.log" 2>&1 &
    PIDS+=("$!")
    wait_port "$HOST" "$http" 20
}
sink a; A_RTMP="$SINK_RTMP"
sink b; B_RTMP="$SINK_RTMP"; B_SRT="$SINK_SRT"
sink c; C_RTMP="$SINK_RTMP"

# CPU seconds (user + system) of one `onair publish` run with these extra arguments.
publish_cpu() {
    local times
    times="$(bash -c '"$@" >/dev/null 2>&1; times' _ "${MEASURED_CPUS[@]}" "$BIN" publish --video test --audio tone --quality 3 --duration "$SECS" "$@" | tail -1)"
    python3 -c 'import re,sys; total = sum(int(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", sys.argv[1])); print("%.2f" % total)' "$times"
}

echo "== studio: $SECS s of 720p30 per case, $ROUNDS rounds of the three cases in turn"
ONE=(); THREE=(); RECORDED=()
for round in $(seq "$ROUNDS"); do
    ONE+=("$(publish_cpu --to "rtmp://$HOST:$A_RTMP/live/one")")
    THREE+=("$(publish_cpu --to "rtmp://$HOST:$A_RTMP/live/three" --to "srt://$HOST:$B_SRT?streamid=publish:live/three" --to "rtmp://$HOST:$C_RTMP/live/three")")
    RECORDED+=("$(publish_cpu --to "rtmp://$HOST:$A_RTMP/live/rec" --record "$TMP/recording.mp4")")
    RECORDING_MB="$(du -m "$TMP/recording.mp4" | cut -f1)"
    rm -f "$TMP/recording.mp4"
    echo "   round $round: one ${ONE[-1]} s, three ${THREE[-1]} s, recorded ${RECORDED[-1]} s"
done

# `onair serve` on fresh ports with this extra config; its PID in SERVER_PID, RTMP port in SERVER_RTMP.
onair_server() { # name extra-toml
    local http srt
    SERVER_RTMP="$(free_port)"; http="$(free_port)"; srt="$(free_port)"
    printf '[rtmp]\nlisten = "%s:%s"\n[srt]\nlisten = "%s:%s"\n[http]\nlisten = "%s:%s"\n[ladder]\nenabled = false\n%b' \
        "$HOST" "$SERVER_RTMP" "$HOST" "$srt" "$HOST" "$http" "$2" >"$TMP/$1.toml"
    NO_COLOR=1 "${MEASURED_CPUS[@]}" "$BIN" serve --webrtc 127.0.0.1:0 --config "$TMP/$1.toml" >"$TMP/$1.log" 2>&1 &
    SERVER_PID=$!; PIDS+=("$SERVER_PID")
    wait_port "$HOST" "$http" 20
    SERVER_HTTP="$http"
}
# A single-process nginx-rtmp with this application body; PID in SERVER_PID, port in SERVER_RTMP.
nginx_server() { # name application-body
    SERVER_RTMP="$(free_port)"
    mkdir -p "$TMP/$1/logs"
    { nginx_rtmp_preamble "$(nginx_rtmp_module)" "$TMP/$1"
      echo "rtmp { server { listen $HOST:$SERVER_RTMP; application live { live on; $2 } } }"; } >"$TMP/$1/nginx.conf"
    "${MEASURED_CPUS[@]}" nginx -p "$TMP/$1/" -c "$TMP/$1/nginx.conf" -e "$TMP/$1/logs/error.log" >"$TMP/$1.out" 2>&1 &
    SERVER_PID=$!; PIDS+=("$SERVER_PID")
    wait_port "$HOST" "$SERVER_RTMP" 20
}
# The same file published to two RTMP ports at once; the CPU seconds of each PID meanwhile.
pair_cpu() { # pid-a port-a key-a pid-b port-b key-b
    local a0 b0 a1 b1 p1 p2
    a0="$(cpu_ticks "$1")"; b0="$(cpu_ticks "$4")"
    "${SINK_CPUS[@]}" ffmpeg -hide_banner -loglevel error -nostdin -re -i "$FILE" -t "$SECS" -c copy -f flv "rtmp://$HOST:$2/live/$3" & p1=$!
    "${SINK_CPUS[@]}" ffmpeg -hide_banner -loglevel error -nostdin -re -i "$FILE" -t "$SECS" -c copy -f flv "rtmp://$HOST:$5/live/$6" & p2=$!
    wait "$p1" "$p2"
    a1="$(cpu_ticks "$1")"; b1="$(cpu_ticks "$4")"
    python3 -c 'import sys; t = int(sys.argv[5]); print("%.2f %.2f" % ((int(sys.argv[2]) - int(sys.argv[1])) / t, (int(sys.argv[4]) - int(sys.argv[3])) / t))' "$a0" "$a1" "$b0" "$b1" "$TICKS"
}
stop_server() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

FORWARD="[[forward]]\nurl = \"rtmp://$HOST:$B_RTMP/live/{key}\"\n[[forward]]\nurl = \"rtmp://$HOST:$C_RTMP/live/{key}\"\n"
PUSH="push rtmp://$HOST:$B_RTMP/live; push rtmp://$HOST:$C_RTMP/live;"

echo "== server: forwarding $SECS s of $FILE to two destinations, onair and nginx-rtmp (push) at once"
onair_server origin "$FORWARD"; O_PID="$SERVER_PID"; O_RTMP="$SERVER_RTMP"; O_HTTP="$SERVER_HTTP"
nginx_server push "$PUSH"; N_PID="$SERVER_PID"; N_RTMP="$SERVER_RTMP"
( sleep $((SECS / 2)); curl -sf "http://$HOST:$O_HTTP/api/streams" >"$TMP/streams.json" ) &
PEEK=$!
read -r O_FWD N_PUSH < <(pair_cpu "$O_PID" "$O_RTMP" by-onair "$N_PID" "$N_RTMP" by-nginx)
wait "$PEEK" || true
FORWARDS="$(python3 -c 'import json,sys; print(" ".join(f["state"] for s in json.load(open(sys.argv[1])) for f in s["forwards"]))' "$TMP/streams.json")"
stop_server "$O_PID"; stop_server "$N_PID"

echo "== server: the same against nginx-rtmp push with hls + dash on"
onair_server origin2 "$FORWARD"; O_PID="$SERVER_PID"; O_RTMP="$SERVER_RTMP"
nginx_server pushhls "$PUSH hls on; hls_path $TMP/pushhls/hls; hls_fragment 2s; dash on; dash_path $TMP/pushhls/dash; dash_fragment 2s;"
N_PID="$SERVER_PID"; N_RTMP="$SERVER_RTMP"
read -r O_FWD2 N_PUSH_HLS < <(pair_cpu "$O_PID" "$O_RTMP" by-onair2 "$N_PID" "$N_RTMP" by-nginx2)
stop_server "$O_PID"; stop_server "$N_PID"

echo "== server: recording $SECS s of $FILE ([record]) against the same server without, at once"
onair_server recorder "[record]\ndirectory = \"$TMP/vod\"\n"; R_PID="$SERVER_PID"; R_RTMP="$SERVER_RTMP"
onair_server plain ""; P_PID="$SERVER_PID"; P_RTMP="$SERVER_RTMP"
read -r S_RECORDED S_PLAIN < <(pair_cpu "$R_PID" "$R_RTMP" recorded "$P_PID" "$P_RTMP" plain)
S_RECORDED_MB="$(du -sm "$TMP/vod" | cut -f1)"
stop_server "$R_PID"; stop_server "$P_PID"
ARRIVED="$(cat "$TMP"/sink-*.log | grep -o 'publishing over RTMP.*key="by-[a-z0-9]*"' | sed 's/.*key=//' | sort | tr '\n' ' ' || true)"

python3 - "${ONE[*]}" "${THREE[*]}" "${RECORDED[*]}" "$RECORDING_MB" "$SECS" "$O_FWD" "$N_PUSH" "$O_FWD2" "$N_PUSH_HLS" "$S_RECORDED" "$S_PLAIN" "$S_RECORDED_MB" "$FORWARDS" "$ARRIVED" <<'PY'
import statistics, sys
one, three, recorded = (list(map(float, a.split())) for a in sys.argv[1:4])
mb, secs = sys.argv[4], int(sys.argv[5])
o_fwd, n_push, o_fwd2, n_push_hls, s_rec, s_plain = map(float, sys.argv[6:12])
s_mb, forwards, arrived = sys.argv[12], sys.argv[13], sys.argv[14]
m1, m3, mr = (statistics.median(v) for v in (one, three, recorded))
rounds = len(one)
print()
print(f"| studio, 720p30 for {secs} s, median of {rounds} rounds | CPU s | × one target |")
print("|---|---|---|")
print(f"| one RTMP target | {m1:.2f} | 1.00 |")
print(f"| three targets (RTMP, SRT, RTMP), one encode | {m3:.2f} | {m3 / m1:.2f} (rounds: {', '.join(f'{t / o:.2f}' for t, o in zip(three, one))}) |")
print(f"| one target + --record ({mb} MB written) | {mr:.2f} | {mr / m1:.2f} (recording: {100 * (mr - m1) / secs:.1f} % of a core) |")
print()
print(f"| server, one 1080p30 6 Mbit/s stream for {secs} s, two servers at once | CPU s | ratio |")
print("|---|---|---|")
print(f"| onair serve, [[forward]] ×2 (and its own LL-HLS/DASH packaging) | {o_fwd:.2f} | {o_fwd / n_push:.2f} × nginx-rtmp push |")
print(f"| nginx-rtmp, push ×2 | {n_push:.2f} | |")
print(f"| onair serve, [[forward]] ×2 | {o_fwd2:.2f} | {o_fwd2 / n_push_hls:.2f} × nginx-rtmp push + hls + dash |")
print(f"| nginx-rtmp, push ×2 + hls + dash | {n_push_hls:.2f} | |")
print(f"| onair serve with [record] ({s_mb} MB written) | {s_rec:.2f} | recording: {100 * (s_rec - s_plain) / secs:.1f} % of a core |")
print(f"| onair serve without | {s_plain:.2f} | |")
print(f"\nforward ratio onair/nginx push: {o_fwd / n_push:.2f}; against push + hls + dash: {o_fwd2 / n_push_hls:.2f}")
print(f"onair's forwards mid-run: {forwards}; streams the sinks got: {arrived}")
PY
