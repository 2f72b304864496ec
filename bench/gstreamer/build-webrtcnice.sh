#!/bin/sh
# Build GStreamer 1.22.0's libgstwebrtcnice (webrtcbin's ICE, on libnice) twice from the
# Debian source tarball: as released ("control") and with aggressive nomination
# ("aggressive"), to measure the change docs/performance.md proposes for GStreamer
# ("Aggressive nomination, a change inside GStreamer"). Run the bench against either with
#   LD_LIBRARY_PATH=$OUT/aggressive scripts/in-netns.sh .venv/bin/python -m bench --only open_warm
# Needs (Debian 12): gcc, curl, libgstreamer-plugins-bad1.0-dev, libgstreamer1.0-dev,
# libgstreamer-plugins-base1.0-dev, libnice-dev. Nothing is installed system-wide.
set -eu
OUT=${1:-/tmp/webrtcnice}
VERSION=1.22.0
TARBALL=gst-plugins-bad1.0_$VERSION.orig.tar.xz
mkdir -p "$OUT"
cd "$OUT"
[ -f "$TARBALL" ] || curl -fsSL -o "$TARBALL" \
  "http://deb.debian.org/debian/pool/main/g/gst-plugins-bad1.0/$TARBALL"
[ -d "gst-plugins-bad-$VERSION" ] || tar -xJf "$TARBALL"
SRC=$OUT/gst-plugins-bad-$VERSION/gst-libs/gst/webrtc/nice
# webrtcbin asks libnice for regular nomination (RFC 8445); without the option libnice
# nominates aggressively: the controlling agent's first checks carry USE-CANDIDATE.
sed 's#^  options |= NICE_AGENT_OPTION_REGULAR_NOMINATION;#  /* aggressive nomination */#' \
  "$SRC/nice.c" > "$SRC/nice_aggressive.c"
grep -q "aggressive nomination" "$SRC/nice_aggressive.c"
build() {
  mkdir -p "$OUT/$1"
  # shellcheck disable=SC2046  # pkg-config's flags are meant to split
  gcc -O2 -g -fPIC -shared -o "$OUT/$1/libgstwebrtcnice-1.0.so.0" \
    -Wl,-soname,libgstwebrtcnice-1.0.so.0 "$SRC/$2" "$SRC/nicestream.c" "$SRC/nicetransport.c" \
    -DGST_USE_UNSTABLE_API -DBUILDING_GST_WEBRTCNICE '-DG_LOG_DOMAIN="GStreamer-webrtcnice"' \
    -I"$SRC/../../.." $(pkg-config --cflags --libs gstreamer-webrtc-1.0 gstreamer-sdp-1.0 nice gio-2.0)
}
build control nice.c
build aggressive nice_aggressive.c
echo "built: $OUT/control and $OUT/aggressive (LD_LIBRARY_PATH=... selects one)"
