#!/usr/bin/env bash
# SRT versus RTMP into the same `onair serve`, in the same run: ingest CPU for
# the same 1080p30 ~6 Mbit/s file published over each (ffmpeg -re -c copy, 30 s).
# Usage: benches/srt_vs_rtmp.sh   (needs benches/.cache from ingest_vs_nginx_rtmp.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${ONAIR_BIN:-target/release/onair}"
[ -x "$BIN" ] || cargo build --release
FILE=benches/.cache/ingest_1080p30_6M_60s.flv
[ -s "$FILE" ] || benches/ingest_vs_nginx_rtmp.sh --prepare-only
TMP="$(mktemp -d /tmp/onair-srt-bench.XXXXXX)"
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SERVER=
trap 'kill ${SERVER:-} 2>/dev/null; rm -rf "$TMP"' EXIT
start_onair_serve "$BIN" "$TMP"
cpu_for() { # label url format
    local before after
    before="$(cpu_ticks "$SERVER")"
    ffmpeg -hide_banner -loglevel error -nostdin -re -i "$FILE" -t 30 -c copy -f "$3" "$2"
    after="$(cpu_ticks "$SERVER")"
    python3 -c "print(f'| $1 | {($after - $before) / $(getconf CLK_TCK):.2f} CPU s for 30 s |')"
}
echo "| ingest of the same 1080p30 6 Mbit/s file | onair CPU |"
echo "|---|---|"
cpu_for RTMP "$RTMP/cpu-rtmp" flv
cpu_for SRT "$SRT?streamid=publish:live/cpu-srt&latency=120000" mpegts
