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
        default=DEMO_AUDIO,
        help="GStreamer source of raw audio (default: a 440 Hz tone); 'none' for no audio",
    )
    parser.add_argument(
        "--video-codec", default="vp8", help="vp8 (default), vp9 or h264 (browsers need vp8/h264)"
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
    video_codec: str = "vp8",
    width: int = 640,
    height: int = 360,
    framerate: int = 30,
) -> Callable[[], list[MediaSource]]:
    """A factory of fresh sources for each session (None or 'none' leaves a kind out).

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
        if video is not None:
            sources.append(
                VideoSource(
                    video, codec=video_codec, width=width, height=height, framerate=framerate
                )
            )
        if audio is not None:
            sources.append(AudioSource(audio))
        return sources

    for source in build():  # validates codec names and sizes
        try:
            Gst.parse_launch(f"{source.raw_description()} ! fakesink")
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
) -> int:
    """Run a producer until SIGINT/SIGTERM (0) or until the server goes away (1).

    With ``shared`` (the default) every consumer gets the one capture and encode of a
    :class:`~aiogstwebrtc.media.Broadcast` made from one call of ``sources``; otherwise
    ``sources`` is called for each consumer.
    """
    if not shared:
        return await _produce(server, name, sources, token, max_sessions, local_addresses, chat)
    from aiogstwebrtc.media import AudioSource, Broadcast, VideoSource

    made = sources()
    video = next((s for s in made if isinstance(s, VideoSource)), None)
    audio = next((s for s in made if isinstance(s, AudioSource)), None)
    async with Broadcast(video=video, audio=audio) as broadcast:
        tracks: list[MediaSource] = [t for t in (broadcast.video, broadcast.audio) if t]
        return await _produce(
            server, name, lambda: list(tracks), token, max_sessions, local_addresses, chat
        )


async def _produce(
    server: str,
    name: str,
    sources: Callable[[], list[MediaSource]],
    token: str | None,
    max_sessions: int,
    local_addresses: list[str] | None,
    chat: Callable[[ProducerSession, str | bytes], str | bytes],
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
            await wait_first(stop.wait(), producer.wait_closed())
        finally:
            await producer.close()
    if not stop.is_set():
        log.error("the signalling server closed the connection")
        return 1
    say("producer stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``aiogstwebrtc produce``."""
    try:
        sources = make_sources(
            args.video,
            args.audio,
            video_codec=args.video_codec,
            width=args.width,
            height=args.height,
            framerate=args.framerate,
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
        )
    )
