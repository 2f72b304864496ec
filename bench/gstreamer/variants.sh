# Sourced by build-webrtcbin.sh and build-dtls.sh with OUT (where to build), HERE (this
# directory) and PLUGIN (the plugin's directory in gst-plugins-bad, e.g. ext/dtls) set: what
# building one plugin in several variants takes besides each variant's edits
# (source_edit.py) and its compiler line. Works inside $OUT; sets VERSION and TREE
# (source-tree.sh), SRC (the plugin's sources) and SYSTEM_PLUGINS (unless given).
SYSTEM_PLUGINS=${SYSTEM_PLUGINS:-/usr/lib/x86_64-linux-gnu/gstreamer-1.0}
mkdir -p "$OUT"
cd "$OUT"
. "$HERE/source-tree.sh"
SRC=$TREE/$PLUGIN

# A fresh copy of $SRC for variant $1, in $OUT/$1/src.
copy_sources() {
  rm -rf "$OUT/$1/src"
  mkdir -p "$OUT/$1"
  cp -r "$SRC" "$OUT/$1/src"
}

# $OUT/$1/plugins also links every system plugin but $2, the variant's own build there;
# the registry is made anew on first use.
link_system_plugins() {
  for plugin in "$SYSTEM_PLUGINS"/*.so; do
    [ "$(basename "$plugin")" = "$2" ] || ln -sf "$plugin" "$OUT/$1/plugins/"
  done
  rm -f "$OUT/$1/registry.bin"
}

# The calling script's build() for each of $VARIANTS, or of $1 (the default list).
build_variants() {
  for variant in ${VARIANTS:-$1}; do
    build "$variant"
    echo "built: $OUT/$variant/plugins (GST_PLUGIN_SYSTEM_PATH_1_0 selects it)"
  done
}
