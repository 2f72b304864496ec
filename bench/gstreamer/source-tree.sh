# Sourced by the build-*.sh scripts here, inside $OUT: sets VERSION (the installed
# GStreamer's, unless given) and TREE, a gst-plugins-bad source tree of that version.
# TREE may be given instead (e.g. GStreamer's git at tag $VERSION,
# subprojects/gst-plugins-bad) where Debian's source tarball is not served.
VERSION=${VERSION:-$(pkg-config --modversion gstreamer-webrtc-1.0)}
if [ -z "${TREE:-}" ]; then
  TARBALL=gst-plugins-bad1.0_$VERSION.orig.tar.xz
  [ -f "$TARBALL" ] || curl -fsSL -o "$TARBALL" \
    "http://deb.debian.org/debian/pool/main/g/gst-plugins-bad1.0/$TARBALL"
  [ -d "gst-plugins-bad-$VERSION" ] || tar -xJf "$TARBALL"
  TREE=$OUT/gst-plugins-bad-$VERSION
fi
