"""Publish to a WHIP endpoint: ``aiogstwebrtc whip-publish URL --token T``.

Sends ``--video`` and ``--audio`` (GStreamer sources of raw media; default a test pattern
and a tone) until Ctrl-C (SIGINT) or SIGTERM, then ends the session with a DELETE.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from ..errors import WebRTCError

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aiogstwebrtc whip-publish``."""
    from ..signalling.produce import DEMO_AUDIO, DEMO_VIDEO_PLAIN

    parser.add_argument("url", help="the WHIP endpoint, e.g. http://127.0.0.1:8443/whip/show")
    parser.add_argument("--token", help="the endpoint's bearer token")
    parser.add_argument("--video", default=DEMO_VIDEO_PLAIN, help="raw video source; 'none'")
    parser.add_argument("--audio", default=DEMO_AUDIO, help="raw audio source; 'none'")


async def publish(url: str, token: str | None, video: str, audio: str) -> int:
    """Publish until stopped: 0, or 1 when the endpoint refused."""
    from ..media import AudioSource, MediaSource, VideoSource
    from ..signalling._shutdown import say, stop_on_signals
    from .client import WhipClient

    sources: list[MediaSource] = []
    if video.strip().lower() != "none":
        sources.append(VideoSource(video))
    if audio.strip().lower() != "none":
        sources.append(AudioSource(audio))
    with stop_on_signals() as stop:
        async with WhipClient(url, token=token) as client:
            try:
                await client.publish(*sources)
            except (WebRTCError, OSError, TimeoutError, ValueError) as exc:
                log.error("%s", exc)
                return 1
            say(f"publishing to {url}")
            await stop.wait()
    say("stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``aiogstwebrtc whip-publish``."""
    return asyncio.run(publish(args.url, args.token, args.video, args.audio))
