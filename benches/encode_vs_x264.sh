#!/usr/bin/env bash
# H.264 encoding of the test pattern: OnAir (OpenH264) beside ffmpeg's libx264
# (ultrafast+zerolatency and veryfast) at the same bitrate, same source:
# CPU cores used, frames per second of capacity, PSNR against the source.
# Usage: benches/encode_vs_x264.sh [FRAMES]   (default 300 = 10 s at 30 fps)
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES="${1:-300}"
OUT="$(mktemp -d /tmp/onair-encode-bench.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
cargo bench --bench encode_speed --no-run -q 2>/dev/null || cargo bench --bench encode_speed --no-run

psnr() { # encoded size
    ffmpeg -hide_banner -nostats -i "$1" -f rawvideo -pix_fmt yuv420p -s "$2" -r 30 -i "$OUT/source_$2.yuv" \
        -lavfi "[0:v][1:v]psnr" -f null - 2>&1 | sed -n 's/.*average:\([0-9.inf]*\).*/\1/p' | tail -1
}

echo "| encoder | size | fps capacity | CPU cores | CPU s per 10 s of video | bitrate kbit/s | PSNR dB |"
echo "|---|---|---|---|---|---|---|"
for spec in 1280x720:3000 1920x1080:6000; do
    size="${spec%%:*}"; kbps="${spec##*:}"
    line="$(cargo bench -q --bench encode_speed -- "$size" "$FRAMES" "$kbps" "$OUT" 2>/dev/null | grep '^onair-openh264')"
    wall="$(sed 's/.*wall=\([0-9.]*\).*/\1/' <<<"$line")"; cpu="$(sed 's/.*cpu=\([0-9.]*\).*/\1/' <<<"$line")"
    rate="$(sed 's/.*kbps=\([0-9.]*\).*/\1/' <<<"$line")"
    python3 -c "import sys; w,c,f=map(float,sys.argv[1:4]); print(f'| OnAir (OpenH264) | $size | {f/w:.0f} | {c/w:.2} | {c*300/f:.2} | $rate | $(psnr "$OUT/onair_$size.h264" "$size" | cut -c1-5) |')" "$wall" "$cpu" "$FRAMES"
    for preset in ultrafast veryfast; do
        TIMEFORMAT='%R %U %S'
        times="$( { time ffmpeg -hide_banner -loglevel error -y -f rawvideo -pix_fmt yuv420p -s "$size" -r 30 -i "$OUT/source_$size.yuv" \
            -c:v libx264 -preset "$preset" -tune zerolatency -b:v "${kbps}k" -maxrate "${kbps}k" -bufsize "$((kbps * 2))k" -g 60 \
            -f h264 "$OUT/x264_${preset}_$size.h264" ; } 2>&1 | tail -1)"
        read -r wall user sys <<<"$times"
        bytes="$(stat -c %s "$OUT/x264_${preset}_$size.h264")"
        python3 -c "import sys; w,u,s,f,b=map(float,sys.argv[1:6]); c=u+s; print(f'| x264 {sys.argv[6]} | $size | {f/w:.0f} | {c/w:.2} | {c*300/f:.2} | {b*8/(f/30)/1000:.0f} | $(psnr "$OUT/x264_${preset}_$size.h264" "$size" | cut -c1-5) |')" \
            "$wall" "$user" "$sys" "$FRAMES" "$bytes" "$preset"
    done
done
echo
echo "fps capacity = frames / wall time (encoding only for OnAir; ffmpeg includes reading raw frames). CPU cores = CPU time / wall time."
