#!/bin/sh
# Build the installed GStreamer's libgstwebrtcnice (webrtcbin's ICE, on libnice; 1.22.0 on
# Debian 12, 1.26.2 on Debian 13) twice from Debian's source tarball of that version: as released ("control") and with aggressive nomination
# ("aggressive"), to measure the change docs/performance.md proposes for GStreamer
# ("Aggressive nomination, a change inside GStreamer"). Run the bench against either with
#   LD_LIBRARY_PATH=$OUT/aggressive scripts/in-netns.sh .venv/bin/python -m bench --only open_warm
# Needs (Debian 12 or 13): gcc, curl, libgstreamer-plugins-bad1.0-dev, libgstreamer1.0-dev,
# libgstreamer-plugins-base1.0-dev, libnice-dev. Nothing is installed system-wide.
set -eu
OUT=${1:-/tmp/webrtcnice}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
cd "$OUT"
. "$HERE/source-tree.sh"
SRC=$TREE/gst-libs/gst/webrtc/nice
# as GStreamer's meson does: consent freshness with a libnice newer than 0.1.21.1
CONSENT=
if pkg-config --atleast-version=0.1.22 nice; then CONSENT=-DHAVE_LIBNICE_CONSENT_FIX; fi
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
    -DGST_USE_UNSTABLE_API -DBUILDING_GST_WEBRTCNICE '-DG_LOG_DOMAIN="GStreamer-webrtcnice"' $CONSENT \
    -I"$SRC/../../.." $(pkg-config --cflags --libs gstreamer-webrtc-1.0 gstreamer-sdp-1.0 nice gio-2.0)
}
build control nice.c
build aggressive nice_aggressive.c
echo "built: $OUT/control and $OUT/aggressive (LD_LIBRARY_PATH=... selects one)"
