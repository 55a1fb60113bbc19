#!/usr/bin/env bash
# Installs what building, running and testing OnAir need. Idempotent: packages
# already present are skipped, so it is cheap to call before every run.
set -euo pipefail

packages=(
  # building
  build-essential pkg-config nasm clang libclang-dev libasound2-dev
  # SRT: libsrt, the library ffmpeg and srt-live-transmit use too
  libsrt-gnutls-dev
  # the ladder decodes and scales with FFmpeg's libavcodec and libswscale
  libavcodec-dev libavutil-dev libswscale-dev
  # the mixer records any sound server source (microphones, the desktop's monitor) with libpulse-simple
  libpulse-dev
  # WebRTC audio: Opus through the system libopus
  libopus-dev
  # peers the tests and benchmarks run against
  ffmpeg nginx libnginx-mod-rtmp libnginx-mod-stream srt-tools wrk iproute2 procps curl chromium openssl
  # the .deb: building it (packaging/build-deb.sh) and checking its metadata
  dpkg-dev binutils desktop-file-utils appstream systemd
  # GStreamer's playbin, one of the players the output is checked against (HLS and DASH demuxers, H.264/AAC decoders)
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav
  # a microphone stand-in: PulseAudio with a null sink, reached through ALSA
  pulseaudio pulseaudio-utils libasound2-plugins
  # the desktop app's window (X11 or Wayland, OpenGL), and a virtual display for its tests
  libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon0 libxkbcommon-x11-0 libgl1 libegl1 libgl1-mesa-dri
  xvfb x11-utils imagemagick
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup.sh: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup.sh: cargo not found; install Rust 1.95 with rustup (https://rustup.rs) and rerun" >&2
  exit 1
fi

# hls.js and dash.js, embedded into the binary for the web player page, and
# playwright-core, which drives Chromium in the browser tests: pinned in
# package-lock.json, installed into node_modules/ (ignored by git).
if ! command -v npm >/dev/null 2>&1; then
  echo "setup.sh: npm not found; installing the distribution's nodejs and npm" >&2
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [ "$(node -e 'console.log(process.versions.node.split(".")[0])')" -lt 20 ]; then
  echo "setup.sh: the browser tests need Node.js 20 or newer (found $(node --version)); install it from a Node.js apt repository or nvm" >&2
fi
cd "$(dirname "$0")/.."
if [ ! -d node_modules/hls.js ] || [ ! -d node_modules/dashjs ] || [ ! -d node_modules/playwright-core ] \
  || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup.sh: installing npm packages from package-lock.json" >&2
  npm ci --no-audit --no-fund
fi
