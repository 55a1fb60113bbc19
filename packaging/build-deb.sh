#!/usr/bin/env bash
# Builds onair_VERSION_ARCH.deb into target/deb/: the binary, its desktop entry,
# icon and AppStream metadata, the onair service (systemd) with
# /etc/onair/onair.toml, and the runtime libraries it needs declared.
#
#   packaging/build-deb.sh                 cargo build --release, then package it
#   packaging/build-deb.sh --binary PATH   package an onair binary built already
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
while (($#)); do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    *) echo "usage: packaging/build-deb.sh [--binary PATH]" >&2; exit 1 ;;
  esac
done
for tool in dpkg-deb dpkg-shlibdeps objdump; do
  command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is missing: run packaging/setup.sh" >&2; exit 1; }
done
if [ -z "$binary" ]; then
  cargo build --release --locked --bin onair
  binary=target/release/onair
fi
[ -x "$binary" ] || { echo "build-deb.sh: $binary is not an executable" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
out=target/deb
stage="$out/onair_${version}_${arch}"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/etc/onair" "$stage/lib/systemd/system" \
  "$stage/usr/share/applications" "$stage/usr/share/icons/hicolor/scalable/apps" \
  "$stage/usr/share/metainfo" "$stage/usr/share/doc/onair"

install -m 0755 "$binary" "$stage/usr/bin/onair"
strip --strip-debug "$stage/usr/bin/onair" 2>/dev/null || true
install -m 0644 packaging/deb/onair.toml "$stage/etc/onair/onair.toml"
install -m 0644 packaging/deb/onair.service "$stage/lib/systemd/system/onair.service"
install -m 0644 packaging/onair.desktop "$stage/usr/share/applications/onair.desktop"
install -m 0644 assets/onair.svg "$stage/usr/share/icons/hicolor/scalable/apps/onair.svg"
install -m 0644 packaging/deb/org.onair.Studio.metainfo.xml "$stage/usr/share/metainfo/org.onair.Studio.metainfo.xml"
install -m 0644 README.md "$stage/usr/share/doc/onair/README.md"
install -m 0644 packaging/deb/copyright "$stage/usr/share/doc/onair/copyright"

# What the binary links: dpkg-shlibdeps reads its NEEDED entries.
mkdir -p "$out/shlibs/debian"
printf 'Source: onair\n\nPackage: onair\nArchitecture: any\n' > "$out/shlibs/debian/control"
linked=$(cd "$out/shlibs" && dpkg-shlibdeps -O "$OLDPWD/$stage/usr/bin/onair" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')

# What it opens at run time (libloading, winit, cpal's and the mixer's sound):
# the packages that ship the libraries this machine's build was made against.
package_of() {
  local file
  file=$(readlink -f "$1" 2>/dev/null) || return 1
  dpkg -S "$file" 2>/dev/null | head -1 | cut -d: -f1
}
opened=()
libdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
for lib in libsrt-gnutls.so libsrt.so libavcodec.so libavutil.so libswscale.so libpulse-simple.so.0 libpulse.so.0 \
  libX11.so.6 libXcursor.so.1 libXrandr.so.2 libXi.so.6 libxkbcommon.so.0 libxkbcommon-x11.so.0 libGL.so.1 libEGL.so.1; do
  if [ -e "$libdir/$lib" ]; then
    package=$(package_of "$libdir/$lib") && [ -n "$package" ] && opened+=("$package")
  fi
done
# The -dev packages own the unversioned links; the runtime package owns the file they point at.
depends=$(printf '%s\n' "${opened[@]}" | grep -v -- '-dev$' | sort -u | paste -sd, - | sed 's/,/, /g')
depends="${linked:+$linked, }$depends, adduser"

size=$(du -sk "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: onair
Version: $version
Architecture: $arch
Maintainer: OnAir developers <onair@localhost>
Installed-Size: $size
Depends: $depends
Section: video
Priority: optional
Description: live-streaming studio with a bundled low-latency origin
 OnAir captures a camera or the screen and a microphone, composes scenes,
 encodes H.264 and AAC and goes live over RTMP, RTMPS, SRT or WebRTC.
 .
 Its server (the onair service) takes RTMP, RTMPS, SRT and WebRTC in,
 transcodes an adaptive-bitrate ladder and serves HLS, Low-Latency HLS,
 DASH and WebRTC over HTTP or HTTPS, with a web player.
CONTROL
echo /etc/onair/onair.toml > "$stage/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst "$stage/DEBIAN/postinst"
install -m 0755 packaging/deb/prerm "$stage/DEBIAN/prerm"
install -m 0755 packaging/deb/postrm "$stage/DEBIAN/postrm"

dpkg-deb --root-owner-group --build "$stage" "$out/onair_${version}_${arch}.deb" >/dev/null
echo "$out/onair_${version}_${arch}.deb"
