#!/usr/bin/env bash
# Idle cost of `onair serve` with no stream: CPU seconds over 30 s (utime+stime
# from /proc/PID/stat, sampled 3 s and 33 s after start), RSS, and which
# threads spent the CPU.
#
# Usage: benches/idle.sh [SECONDS]   ONAIR_BIN=path (default target/release/onair)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ONAIR_BIN:-$ROOT/target/release/onair}"
SECONDS_IDLE="${1:-30}"
[ -x "$BIN" ] || { echo "missing binary $BIN (cargo build --release)" >&2; exit 1; }
TMP="$(mktemp -d /tmp/onair-idle.XXXXXX)"
printf '[rtmp]\nlisten = "127.0.0.1:0"\n[srt]\nlisten = "127.0.0.1:0"\n[http]\nlisten = "127.0.0.1:0"\n[webrtc]\nlisten = "127.0.0.1:0"\n' >"$TMP/config.toml"
"$BIN" serve --config "$TMP/config.toml" >/dev/null 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$TMP"' EXIT
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
sleep 3
BEFORE="$(ticks)"
sleep "$SECONDS_IDLE"
AFTER="$(ticks)"
HZ="$(getconf CLK_TCK)"
echo "idle for ${SECONDS_IDLE} s: $((AFTER - BEFORE)) ticks = $(awk -v t=$((AFTER - BEFORE)) -v hz="$HZ" 'BEGIN {printf "%.2f", t / hz}') CPU s"
grep -E "VmRSS|VmHWM" "/proc/$PID/status"
echo "threads by CPU ticks since start:"
for task in /proc/"$PID"/task/*; do echo "  $(cat "$task/comm"): $(awk '{print $14 + $15}' "$task/stat")"; done
