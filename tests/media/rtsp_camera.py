"""An RTSP camera stand-in: gst-rtsp-server serving a live test pattern on 127.0.0.1.

Run as a child process: ``python tests/media/rtsp_camera.py [--codec h264|h265] [--gop N]``.
It binds a free port, prints ``rtsp://127.0.0.1:PORT/camera`` on one line once it listens,
and serves until it is terminated (SIGTERM/SIGINT) or its stdin closes.

H.264 is constrained baseline (the profile browsers take), from ``x264enc
tune=zerolatency``, with a keyframe every ``--gop`` frames (30 at 30 fps: a 1 s GOP).
gst-rtsp-server turns a client's RTCP PLI/FIR into a keyframe request to the encoder;
``--ignore-keyframe-requests`` drops those requests, like cameras that only ever send their
fixed GOP.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ENCODERS = {
    "h264": (
        "x264enc name=encoder tune=zerolatency speed-preset=ultrafast key-int-max={gop} "
        "bitrate={kbps} ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 "
        "config-interval=-1"
    ),
    "h265": (
        "x265enc name=encoder tune=zerolatency speed-preset=ultrafast key-int-max={gop} "
        "bitrate={kbps} ! rtph265pay name=pay0 pt=96 config-interval=-1"
    ),
}


def launch_description(
    codec: str, gop: int, width: int, height: int, fps: int, kbps: int = 500
) -> str:
    return (
        f"( videotestsrc is-live=true pattern=ball ! "
        f"video/x-raw,width={width},height={height},framerate={fps}/1 ! "
        f"{ENCODERS[codec].format(gop=gop, kbps=kbps)} )"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="h264")
    parser.add_argument("--gop", type=int, default=30, help="frames between keyframes")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--kbps", type=int, default=500, help="the encoder's bitrate")
    parser.add_argument("--port", type=int, default=0, help="0: a free one")
    parser.add_argument("--ignore-keyframe-requests", action="store_true")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))  # 0: a free port, read back below
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        launch_description(args.codec, args.gop, args.width, args.height, args.fps, args.kbps)
    )
    factory.set_shared(True)
    if args.ignore_keyframe_requests:
        factory.connect("media-configure", _ignore_keyframe_requests)
    server.get_mount_points().add_factory("/camera", factory)
    if server.attach(None) == 0:
        sys.exit("rtsp_camera: could not listen")

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, loop.quit)
    GLib.io_add_watch(sys.stdin, GLib.PRIORITY_DEFAULT, GLib.IO_HUP | GLib.IO_IN, _on_stdin, loop)
    print(f"rtsp://127.0.0.1:{server.get_bound_port()}/camera", flush=True)
    loop.run()


def _ignore_keyframe_requests(
    _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia
) -> None:
    encoder = media.get_element().get_by_name("encoder")
    encoder.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_UPSTREAM, _drop_key_unit)


def _drop_key_unit(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
    structure = info.get_event().get_structure()
    if structure is not None and structure.get_name() == "GstForceKeyUnit":
        print("rtsp_camera: keyframe request ignored", file=sys.stderr, flush=True)
        return Gst.PadProbeReturn.DROP
    return Gst.PadProbeReturn.OK


def _on_stdin(_source: object, _condition: int, loop: GLib.MainLoop) -> bool:
    if not sys.stdin.readline():  # the parent closed stdin (it exited): stop too
        loop.quit()
        return False
    return True


if __name__ == "__main__":
    main()
