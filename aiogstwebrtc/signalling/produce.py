"""Serve audio and video to every consumer of a signalling server (a webrtcsink-style producer).

Registers with the server at --server as a producer named --name; each consumer that
starts a session (the demo page, gstwebrtc-api, GStreamer's webrtcsrc, aiogstwebrtc's
Consumer) gets its own WebRTC connection with the --video and --audio sources and a
"chat" data channel that echoes what it receives. --video and --audio take any
GStreamer source description producing raw media, e.g. "v4l2src device=/dev/video0" or
"pulsesrc". Stops cleanly on Ctrl-C (SIGINT) or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from .protocol import SignallingError

if TYPE_CHECKING:
    from aiogstwebrtc.media import MediaSource

    from .roles import ProducerSession
    from .shared_media import SharedMedia

__all__ = [
    "DEMO_AUDIO",
    "DEMO_VIDEO",
    "add_arguments",
    "demo_chat",
    "make_sources",
    "produce",
    "run",
]

log = logging.getLogger(__name__)

DEMO_VIDEO = (
    "videotestsrc is-live=true pattern=ball ! "
    'clockoverlay time-format="%H:%M:%S" halignment=center valignment=center '
    'font-desc="Sans Bold 40" shaded-background=true ! '
    'timeoverlay halignment=right valignment=bottom font-desc="Sans 18"'
)
"""The demo's video: a bouncing ball under a ticking clock and the running time."""

DEMO_VIDEO_PLAIN = "videotestsrc is-live=true pattern=ball"
"""The demo's video when the text overlays (Debian's gstreamer1.0-x) are missing."""

DEMO_AUDIO = "audiotestsrc is-live=true wave=sine freq=440 volume=0.1"
"""The demo's audio: a quiet 440 Hz tone."""

DEFAULT_SERVER = "ws://127.0.0.1:8443/"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aiogstwebrtc produce``."""
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"the signalling server's websocket URL (default {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--name", default="aiogstwebrtc producer", help="name shown to consumers (meta.name)"
    )
    parser.add_argument(
        "--video",
        default=DEMO_VIDEO,
        help="GStreamer source of raw video (default: a test pattern with a clock); "
        "'none' for no video",
    )
    parser.add_argument(
        "--audio",
        default=None,
        help="GStreamer source of raw audio (default: a 440 Hz tone, none with --rtsp); "
        "'none' for no audio",
    )
    parser.add_argument(
        "--rtsp",
        metavar="URL",
        help="pass an RTSP camera's H.264 through to every consumer, not re-encoded "
        "(instead of --video; rtsp://[user:password@]host[:port]/path)",
    )
    parser.add_argument(
        "--retry",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="when the shared source ends or fails, end its sessions and start it again "
        "with backoff (1 s doubling to 5 s) instead of stopping (default: on with --rtsp)",
    )
    parser.add_argument(
        "--video-codec",
        default=None,
        help="vp8 (default), vp9 or h264 (browsers need vp8/h264); with --rtsp the "
        "camera's codec (default h264)",
    )
    parser.add_argument("--width", type=int, default=640, help="video width (default 640)")
    parser.add_argument("--height", type=int, default=360, help="video height (default 360)")
    parser.add_argument("--framerate", type=int, default=30, help="frames per second (default 30)")
    parser.add_argument(
        "--token",
        default=os.environ.get("AIOGSTWEBRTC_TOKEN"),
        help="the server's shared token (default: $AIOGSTWEBRTC_TOKEN)",
    )
    parser.add_argument(
        "--max-sessions", type=int, default=8, help="consumers served at once (default 8)"
    )
    parser.add_argument(
        "--per-consumer-encode",
        action="store_true",
        help="capture and encode again for each consumer (e.g. a file that must start over "
        "for each); by default all consumers share one capture and one encode",
    )
    parser.add_argument(
        "--local-address",
        action="append",
        dest="local_addresses",
        metavar="ADDRESS",
        help="extra address for ICE to gather, e.g. 127.0.0.1 (repeatable)",
    )


def make_sources(
    video: str | None,
    audio: str | None,
    *,
    video_codec: str | None = None,
    width: int = 640,
    height: int = 360,
    framerate: int = 30,
    rtsp: str | None = None,
) -> Callable[[], list[MediaSource]]:
    """A factory of fresh sources for each session (None or 'none' leaves a kind out).

    ``rtsp``: the video is that camera's stream passed through (``video`` is ignored).
    The pipelines are checked now, so a typo fails before any consumer comes.
    """
    from aiogstwebrtc.gst import Gst, ensure_init
    from aiogstwebrtc.media import AudioSource, VideoSource

    ensure_init()

    def wanted(text: str | None) -> str | None:
        return None if text is None or text.strip().lower() in ("", "none") else text

    video, audio = wanted(video), wanted(audio)
    if video == DEMO_VIDEO and Gst.ElementFactory.find("clockoverlay") is None:
        log.warning("clockoverlay is missing (install gstreamer1.0-x): plain test pattern")
        video = DEMO_VIDEO_PLAIN

    def build() -> list[MediaSource]:
        sources: list[MediaSource] = []
        if rtsp is not None:
            sources.append(VideoSource.from_rtsp(rtsp, codec=video_codec or "h264"))
        elif video is not None:
            sources.append(
                VideoSource(
                    video,
                    codec=video_codec or "vp8",
                    width=width,
                    height=height,
                    framerate=framerate,
                )
            )
        if audio is not None:
            sources.append(AudioSource(audio))
        return sources

    try:
        built = build()  # validates codec names, sizes and the RTSP URL
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    for source in built:
        try:
            media = source.encoded_description() if source.passthrough else source.raw_description()
            Gst.parse_launch(f"{media} ! fakesink")
        except Exception as exc:
            raise ValueError(f"invalid {source.kind} source {source.pipeline!r}: {exc}") from None
    return build


def demo_chat(session: ProducerSession, message: str | bytes) -> str | bytes:
    """The demo's chat: answers ``hello``, ``time`` and ``help``, echoes anything else."""
    if isinstance(message, bytes):
        return message
    text = message.strip()
    word = text.lower().rstrip("!?.")
    if word in ("hello", "hi", "hey"):
        return "Hello from Python! I am a GStreamer webrtcbin driven by asyncio."
    if word in ("time", "what time is it"):
        return f"It is {datetime.datetime.now():%H:%M:%S} here."
    if word == "help":
        return "Try: hello, time, or anything else and I will echo it."
    return f"echo: {text}"


async def produce(
    server: str,
    name: str,
    sources: Callable[[], list[MediaSource]],
    *,
    token: str | None = None,
    max_sessions: int = 8,
    local_addresses: list[str] | None = None,
    chat: Callable[[ProducerSession, str | bytes], str | bytes] = demo_chat,
    shared: bool = True,
    retry: bool = False,
) -> int:
    """Run a producer until SIGINT/SIGTERM (0) or until the server goes away (1).

    With ``shared`` (the default) every consumer gets the one capture and encode of a
    :class:`~aiogstwebrtc.media.Broadcast` made from one call of ``sources``; otherwise
    ``sources`` is called for each consumer. With ``retry``, a shared source that ends or
    fails (its sessions end with the reason) is started again with backoff; without it the
    producer stops (1).
    """
    if not shared:
        return await _produce(
            server, name, sources, token, max_sessions, local_addresses, chat, None
        )
    from .shared_media import SharedMedia

    media = SharedMedia(sources, retry=retry)
    await media.start()
    try:
        return await _produce(
            server, name, media.tracks, token, max_sessions, local_addresses, chat, media
        )
    finally:
        await media.close()


async def _produce(
    server: str,
    name: str,
    sources: Callable[[], list[MediaSource]],
    token: str | None,
    max_sessions: int,
    local_addresses: list[str] | None,
    chat: Callable[[ProducerSession, str | bytes], str | bytes],
    media: SharedMedia | None,
) -> int:
    from aiogstwebrtc.config import Configuration

    from ._shutdown import say, stop_on_signals, wait_first
    from .roles import Producer

    config = Configuration(local_addresses=local_addresses)
    producer = Producer(
        server,
        meta={"name": name},
        sources=sources,
        chat_handler=chat,
        configuration=config,
        token=token,
        max_sessions=max_sessions,
    )
    producer.on("session", lambda s: say(f"consumer {s.peer_id} joined"))
    producer.on("session_ended", lambda s: say(f"consumer {s.peer_id} left"))
    gave_up = media.gave_up if media is not None else asyncio.Event()
    if media is not None:

        async def end_all(reason: str) -> None:
            for session in list(producer.sessions.values()):
                await session.close(f"the source ended: {reason}")

        media.on_end = end_all
    with stop_on_signals() as stop:
        starting = asyncio.ensure_future(producer.start())
        await wait_first(starting, stop.wait())  # a signal also stops a slow connection
        if starting.cancelled():
            await producer.close()
            say("producer stopped")
            return 0
        try:
            starting.result()
        except SignallingError as exc:  # refused, unreachable, or no answer in time
            log.error("%s", exc)
            return 1
        say(f"producing as {name!r} (peer {producer.peer_id}) on {server}")
        try:
            await wait_first(stop.wait(), producer.wait_closed(), gave_up.wait())
        finally:
            await producer.close()
    if gave_up.is_set() and not stop.is_set():
        log.error("the source ended and --retry is off: stopping")
        return 1
    if not stop.is_set():
        log.error("the signalling server closed the connection")
        return 1
    say("producer stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``aiogstwebrtc produce``."""
    if args.rtsp and args.per_consumer_encode:
        log.error("--rtsp passes one camera through for all consumers: no --per-consumer-encode")
        return 2
    audio = args.audio if args.audio is not None else ("none" if args.rtsp else DEMO_AUDIO)
    try:
        sources = make_sources(
            args.video,
            audio,
            video_codec=args.video_codec,
            width=args.width,
            height=args.height,
            framerate=args.framerate,
            rtsp=args.rtsp,
        )
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    return asyncio.run(
        produce(
            args.server,
            args.name,
            sources,
            token=args.token or None,
            max_sessions=args.max_sessions,
            local_addresses=args.local_addresses,
            shared=not args.per_consumer_encode,
            retry=args.retry if args.retry is not None else bool(args.rtsp),
        )
    )
