"""Play a WHEP stream: ``aiogstwebrtc whep-play URL``.

Shows the video and plays the audio (``--sink`` for another GStreamer sink), or with
``--record FILE`` writes the video track, without re-encoding, to a WebM (VP8/VP9) or
Matroska file for ``--duration`` seconds. Ends the session (DELETE) on Ctrl-C (SIGINT),
SIGTERM, at the end of ``--duration`` or when the stream ends.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable

from ..errors import WebRTCError

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aiogstwebrtc whep-play``."""
    parser.add_argument("url", help="the WHEP endpoint, e.g. http://127.0.0.1:8443/whep/cam")
    parser.add_argument("--token", help="bearer token, if the server wants one")
    parser.add_argument("--record", metavar="FILE", help="write the video track to FILE")
    parser.add_argument(
        "--duration", type=float, help="seconds to play or record (default: until stopped)"
    )
    parser.add_argument(
        "--sink",
        help="GStreamer sink for the video (default autovideosink; audio: autoaudiosink)",
    )


async def play(
    url: str, token: str | None, record: str | None, duration: float | None, sink: str | None
) -> int:
    from ..signalling._shutdown import say, stop_on_signals, wait_first
    from .client import WhepClient

    with stop_on_signals() as stop:
        async with WhepClient(url, token=token) as client:
            try:
                tracks = await client.play()
            except (WebRTCError, OSError, TimeoutError) as exc:
                log.error("%s", exc)
                return 1
            say(f"playing {url}: " + ", ".join(f"{t.kind} {t.encoding_name}" for t in tracks))
            video = next((t for t in tracks if t.kind == "video"), None)
            waits: list[Awaitable[object]] = [stop.wait()]
            if record is not None:
                if video is None:
                    log.error("the stream has no video to record")
                    return 1
                waits.append(video.record(record, duration))
            else:
                for track in tracks:
                    await track.connect(sink if track.kind == "video" else None)
                if duration is not None:
                    waits.append(asyncio.sleep(duration))
            ended = asyncio.Event()
            for track in tracks:
                track.on("ended", ended.set)
            waits.append(ended.wait())
            await wait_first(*waits)
    say("stopped" + (f"; recorded {record}" if record else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``aiogstwebrtc whep-play``."""
    if args.duration is not None and args.duration <= 0:
        log.error("--duration must be positive")
        return 2
    return asyncio.run(play(args.url, args.token, args.record, args.duration, args.sink))
