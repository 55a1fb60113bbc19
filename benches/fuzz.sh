#!/usr/bin/env bash
# Runs the FLV/AVC/AAC and RTMP-session property tests with many cases (outside CI).
# Usage: benches/fuzz.sh [CASES]   (default 1000000 per property)
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-1000000}"
echo "fuzz: ${cases} cases per property, release build" >&2
time ONAIR_FUZZ_CASES="$cases" cargo test --release --locked --test bad_input -- --exact flv_bodies_never_panic rtmp_sessions_never_panic_out
