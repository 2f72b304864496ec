"""A received track re-sent to viewers through a Broadcast, without decoding (issue 18's
ingest path): aiortc publishes, our peer receives, aiortc viewers watch the relay."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import VideoStreamTrack

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.media import Broadcast, RelayedVideoSource, RemoteTrack
from tests.aiortc_peer import aiortc_peer, they_offer
from tests.media.test_broadcast import viewer
from tests.media.walk import codec_elements

WAIT = 15.0


async def test_a_late_viewer_of_a_relayed_aiortc_stream_gets_a_picture() -> None:
    """aiortc sends a keyframe only every 3,000 frames unless asked: the late viewer's
    picture proves its key-unit request reached the publisher as a PLI."""
    ingest, publisher = PeerConnection(), aiortc_peer()
    received: asyncio.Queue[RemoteTrack] = asyncio.Queue()
    ingest.on("track", received.put_nowait)
    try:
        publisher.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await they_offer(ingest, publisher)
        track = await asyncio.wait_for(received.get(), WAIT)
        source = RelayedVideoSource(track)
        await source.start()
        async with Broadcast(video=source) as broadcast:
            async with viewer(broadcast) as first:
                frame = await first.first_frame()
                assert (frame.width, frame.height) == (640, 480)  # aiortc's test pattern
                await asyncio.sleep(3.0)  # well past the publisher's only keyframe
                async with viewer(broadcast) as late:
                    frame = await late.first_frame()
                    assert (frame.width, frame.height) == (640, 480)
                assert broadcast.encoders() == []
                elements: Any = await ingest.run_in_glib(lambda p, _w: codec_elements(p))
                assert not elements, f"the ingest decodes or encodes: {elements}"
    finally:
        await ingest.close()
        await publisher.close()
