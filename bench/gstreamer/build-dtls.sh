#!/bin/sh
# Build the installed GStreamer's DTLS plugin (libgstdtls.so: 1.22.0 on Debian 12, 1.26.2 on
# Debian 13) in two variants, to measure the change docs/performance.md proposes for
# GStreamer ("The first open of a process: a key nobody uses"):
#   control   as released: every process's first dtlsdec makes an RSA-2048 key in its
#             instance init, used only by decoders that are never given a certificate
#   lazy-key  that key is made only when a decoder needs its connection (its own start,
#             dtlsenc fetching it, its "pem" read) without having been given a "pem";
#             a decoder given one before that (as aiogstwebrtc does with its ECDSA
#             certificate, on the transport's dtlssrtpdec as it is added) never makes it
# Each variant is a plugin directory holding links to every system plugin but dtls's and
# the variant's own libgstdtls.so; run anything against one with
#   GST_PLUGIN_SYSTEM_PATH_1_0=$OUT/lazy-key/plugins GST_REGISTRY_1_0=$OUT/lazy-key/registry.bin \
#     scripts/in-netns.sh .venv/bin/python -m bench --only open_cold
# Needs (Debian 12 or 13): gcc, curl, python3, libgstreamer1.0-dev, libssl-dev. TREE (see
# source-tree.sh) for a release whose Debian tarball is not served. Nothing is installed
# system-wide. VARIANTS="lazy-key" builds only that one.
set -eu
OUT=${1:-/tmp/gst-dtls}
HERE=$(cd "$(dirname "$0")" && pwd)
PLUGIN=ext/dtls
. "$HERE/variants.sh"

variant_sources() {
  copy_sources "$1"
  python3 -B - "$OUT/$1/src" "$1" "$HERE" <<'EOF'
import sys

sys.path.insert(0, sys.argv[3])
from source_edit import Sources

sources = Sources.from_argv()
edit, variant = sources.edit, sources.variant

if variant == "lazy-key":
    dec = "gstdtlsdec.c"
    # No agent (so no generated key) in the instance init.
    edit(dec, "  self->agent = get_agent_by_pem (NULL);\n  self->connection_id = NULL;",
         "  self->agent = NULL;\n  self->connection_id = NULL;")
    # Decoders with a connection id but no agent yet, for dtlsenc's fetch of the connection.
    edit(dec, "static void\ngst_dtls_dec_init (GstDtlsDec * self)\n{",
         """static GHashTable *pending_table = NULL;
G_LOCK_DEFINE_STATIC (pending_table);

static void
forget_pending (GstDtlsDec * self)
{
  G_LOCK (pending_table);
  if (pending_table && self->connection_id
      && g_hash_table_lookup (pending_table, self->connection_id) == self)
    g_hash_table_remove (pending_table, self->connection_id);
  G_UNLOCK (pending_table);
}

/* The connection is needed now: with the generated key if no pem was given by now. */
static void
ensure_connection (GstDtlsDec * self)
{
  if (!self->agent)
    self->agent = get_agent_by_pem (NULL);
  if (self->connection_id && !self->connection)
    create_connection (self, self->connection_id);
  forget_pending (self);
}

static void
gst_dtls_dec_init (GstDtlsDec * self)
{""")
    edit(dec, """      g_free (self->connection_id);
      self->connection_id = g_value_dup_string (value);
      g_return_if_fail (self->agent);
      create_connection (self, self->connection_id);
      break;""", """      forget_pending (self);
      g_free (self->connection_id);
      self->connection_id = g_value_dup_string (value);
      if (self->agent) {
        create_connection (self, self->connection_id);
      } else if (self->connection_id) {
        G_LOCK (pending_table);
        if (!pending_table)
          pending_table =
              g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_insert (pending_table, g_strdup (self->connection_id), self);
        G_UNLOCK (pending_table);
      }
      break;""")
    edit(dec, """      if (self->connection_id) {
        create_connection (self, self->connection_id);
      }
      break;""", """      if (self->connection_id) {
        create_connection (self, self->connection_id);
      }
      forget_pending (self);
      break;""")
    edit(dec, """    case PROP_PEM:
      g_value_take_string (value,""", """    case PROP_PEM:
      if (!self->agent)
        self->agent = get_agent_by_pem (NULL);
      g_value_take_string (value,""")
    edit(dec, """    case GST_STATE_CHANGE_NULL_TO_READY:
      if (self->connection) {""", """    case GST_STATE_CHANGE_NULL_TO_READY:
      if (self->connection_id && !self->connection)
        ensure_connection (self);
      if (self->connection) {""")
    edit(dec, """  GstDtlsConnection *connection;
  g_return_val_if_fail (id, NULL);
""", """  GstDtlsConnection *connection;
  GstDtlsDec *pending = NULL;
  g_return_val_if_fail (id, NULL);

  G_LOCK (pending_table);
  if (pending_table && (pending = g_hash_table_lookup (pending_table, id)))
    gst_object_ref (pending);
  G_UNLOCK (pending_table);
  if (pending) {
    ensure_connection (pending);
    gst_object_unref (pending);
  }
""")
    edit(dec, """gst_dtls_dec_dispose (GObject * object)
{
  GstDtlsDec *self = GST_DTLS_DEC (object);
""", """gst_dtls_dec_dispose (GObject * object)
{
  GstDtlsDec *self = GST_DTLS_DEC (object);

  forget_pending (self);
""")
EOF
}

build() {
  variant_sources "$1"
  mkdir -p "$OUT/$1/plugins"
  # shellcheck disable=SC2046  # pkg-config's flags are meant to split
  gcc -O2 -g -fPIC -shared -o "$OUT/$1/plugins/libgstdtls.so" "$OUT/$1"/src/*.c \
    -DGST_USE_UNSTABLE_API "-DVERSION=\"$VERSION\"" '-DPACKAGE="gst-plugins-bad"' '-DGST_PACKAGE_NAME="local build"' \
    '-DGST_PACKAGE_ORIGIN="bench/gstreamer/build-dtls.sh"' '-DGETTEXT_PACKAGE="gst"' \
    "-DPACKAGE_VERSION=\"$VERSION\"" \
    -DOPENSSL_SUPPRESS_DEPRECATED -Wno-deprecated-declarations \
    $(pkg-config --cflags --libs gstreamer-base-1.0 openssl libcrypto)
  link_system_plugins "$1" libgstdtls.so
}

build_variants "control lazy-key"
