#!/bin/sh
# Build the installed GStreamer's webrtcbin plugin (libgstwebrtc.so: 1.22.0 on Debian 12, 1.26.2
# on Debian 13) from Debian's source tarball of that version
# in four variants, to measure the receive-path changes docs/performance.md proposes for
# GStreamer ("The receive path inside webrtcbin: two hops fewer, measured on a local build"):
#   control  as released
#   direct   a data channel's received message is emitted (on-message-data/-string) on the
#            streaming thread that received it, not handed to webrtcbin's operation thread
#   lean     direct, and no queue between nicesrc and dtlssrtpdec in the transport's
#            receive bin (nicesrc's own thread decrypts and feeds SCTP)
#   ordered  direct only while none of the channel's own tasks (its on-open, the
#            on-data-channel that announces it, messages queued before) is queued or
#            running on the operation thread, queued behind them otherwise: the form of
#            "direct" that keeps a channel's events in order (python -m bench.first_messages)
# VARIANTS="control ordered" builds only those.
# Each variant is a plugin directory holding links to every system plugin but webrtc's and
# the variant's own libgstwebrtc.so; run anything against one with
#   GST_PLUGIN_SYSTEM_PATH_1_0=$OUT/lean/plugins GST_REGISTRY_1_0=$OUT/lean/registry.bin \
#     scripts/in-netns.sh .venv/bin/python -m bench --only rtt_32b
# Needs (Debian 12 or 13): gcc, curl, python3, libgstreamer-plugins-bad1.0-dev,
# libgstreamer1.0-dev, libgstreamer-plugins-base1.0-dev, libnice-dev. Nothing is installed
# system-wide.
set -eu
OUT=${1:-/tmp/webrtcbin}
HERE=$(cd "$(dirname "$0")" && pwd)
PLUGIN=ext/webrtc
. "$HERE/variants.sh"

# Each variant's sources: a copy of ext/webrtc with the variant's edits, checked to apply.
variant_sources() {
  copy_sources "$1"
  python3 -B - "$OUT/$1/src" "$1" "$HERE" <<'EOF'
import sys

sys.path.insert(0, sys.argv[3])
from source_edit import Sources

sources = Sources.from_argv()
edit, variant = sources.edit, sources.variant

if variant in ("direct", "lean"):
    # The message goes to the application on the thread that received it (sctpdec's task
    # for the stream) instead of a task queued to webrtcbin's operation thread.
    edit("webrtcdatachannel.c",
         "_channel_enqueue_task (channel, (ChannelTask) _emit_have_string, str,\n"
         "            g_free);",
         "_emit_have_string (GST_WEBRTC_DATA_CHANNEL (channel), str);\n"
         "        g_free (str);")
    edit("webrtcdatachannel.c",
         "_channel_enqueue_task (channel, (ChannelTask) _emit_have_data, data,\n"
         "            (GDestroyNotify) g_bytes_unref);",
         "_emit_have_data (channel, data);\n"
         "        g_bytes_unref (data);")
if variant == "ordered":
    # Each channel counts its tasks queued to (or running on) webrtcbin's operation thread;
    # a received message is emitted on the receiving thread only when that count is zero,
    # so it can overtake none of them (its channel's on-open and on-data-channel included).
    edit("webrtcdatachannel.h",
         "  gboolean                          peer_closed;\n",
         "  gboolean                          peer_closed;\n"
         "  gint                              pending_tasks;\n")
    edit("webrtcdatachannel.c",
         "  task->notify = notify;\n",
         "  task->notify = notify;\n"
         "  g_atomic_int_inc (&channel->pending_tasks);\n")
    edit("webrtcdatachannel.c",
         "  gst_object_unref (task->channel);\n\n  if (task->notify)",
         "  g_atomic_int_add (&((WebRTCDataChannel *) task->channel)->pending_tasks, -1);\n"
         "  gst_object_unref (task->channel);\n\n  if (task->notify)")
    edit("webrtcdatachannel.c",
         "_channel_enqueue_task (channel, (ChannelTask) _emit_have_string, str,\n"
         "            g_free);",
         "if (g_atomic_int_get (&channel->pending_tasks) == 0) {\n"
         "          _emit_have_string (GST_WEBRTC_DATA_CHANNEL (channel), str);\n"
         "          g_free (str);\n"
         "        } else {\n"
         "          _channel_enqueue_task (channel, (ChannelTask) _emit_have_string, str,\n"
         "              g_free);\n"
         "        }")
    edit("webrtcdatachannel.c",
         "_channel_enqueue_task (channel, (ChannelTask) _emit_have_data, data,\n"
         "            (GDestroyNotify) g_bytes_unref);",
         "if (g_atomic_int_get (&channel->pending_tasks) == 0) {\n"
         "          _emit_have_data (channel, data);\n"
         "          g_bytes_unref (data);\n"
         "        } else {\n"
         "          _channel_enqueue_task (channel, (ChannelTask) _emit_have_data, data,\n"
         "              (GDestroyNotify) g_bytes_unref);\n"
         "        }")
if variant == "lean":
    # nicesrc feeds dtlssrtpdec directly; the queue object is kept (the receive-state code
    # sets its "leaky" property) but never added to the bin, so it has no thread.
    edit("transportreceivebin.c",
         "  gst_bin_add (GST_BIN (receive), GST_ELEMENT (receive->queue));\n",
         "  gst_object_ref_sink (receive->queue);\n")
    edit("transportreceivebin.c",
         'if (!gst_element_link_pads (capsfilter, "src", receive->queue, "sink"))',
         "if (FALSE)")
    edit("transportreceivebin.c",
         'if (!gst_element_link_pads (receive->queue, "src", transport->dtlssrtpdec,\n'
         '          "sink"))',
         'if (!gst_element_link_pads (capsfilter, "src", transport->dtlssrtpdec,\n'
         '          "sink"))')
EOF
}

build() {
  variant_sources "$1"
  mkdir -p "$OUT/$1/plugins"
  # shellcheck disable=SC2046  # pkg-config's flags are meant to split
  gcc -O2 -g -fPIC -shared -o "$OUT/$1/plugins/libgstwebrtc.so" "$OUT/$1"/src/*.c \
    -DGST_USE_UNSTABLE_API "-DVERSION=\"$VERSION\"" '-DPACKAGE="gst-plugins-bad"' '-DGST_PACKAGE_NAME="local build"' \
    '-DGST_PACKAGE_ORIGIN="bench/gstreamer/build-webrtcbin.sh"' '-DGETTEXT_PACKAGE="gst"' \
    -I"$TREE/gst-libs" \
    $(pkg-config --cflags --libs gstreamer-webrtc-1.0 gstreamer-webrtc-nice-1.0 \
      gstreamer-sctp-1.0 gstreamer-app-1.0 gstreamer-rtp-1.0 gstreamer-sdp-1.0 \
      gstreamer-base-1.0 gio-2.0)
  link_system_plugins "$1" libgstwebrtc.so
}

build_variants "control direct lean ordered"
