"""A WHIP stream is also a webrtcsink-protocol producer on the same signalling server:
a signalling Consumer finds it by name and watches it; it leaves when the publisher does."""

from __future__ import annotations

import asyncio

import numpy as np

from aiogstwebrtc.media import VideoSource
from aiogstwebrtc.signalling import Consumer, SignallingServer
from aiogstwebrtc.whep import WhepEndpoint, WhipClient, WhipEndpoint
from aiogstwebrtc.whep.announce import StreamAnnouncer

WAIT = 15.0


async def test_a_whip_stream_is_listed_as_a_producer_and_watched_through_signalling() -> None:
    server = SignallingServer(port=0)
    whep = WhepEndpoint()
    whip = WhipEndpoint(whep, token="pub")
    whep.install(server.app)
    whip.install(server.app)
    try:
        async with server:
            await whep.announce(StreamAnnouncer(server.url))
            base = f"http://127.0.0.1:{server.port}"
            async with Consumer(server.url) as consumer:
                removed: asyncio.Queue[str] = asyncio.Queue()
                consumer.on("producer_removed", lambda info: removed.put_nowait(info.id))
                publisher = WhipClient(f"{base}/whip/show", token="pub")
                try:
                    await publisher.publish(VideoSource(width=320, height=240))
                    info = await consumer.wait_for_producer("show", timeout=WAIT)
                    assert info.meta == {"name": "show", "whep": "/whep/show"}
                    session = await consumer.watch(info.id)
                    video = await session.wait_track("video", WAIT)
                    frame = await asyncio.wait_for(video.recv(), WAIT)
                    assert frame.data.shape == (240, 320, 3) and np.std(frame.data) > 10
                    assert whep.streams() == ["show"]
                finally:
                    await publisher.close()  # DELETE: the stream ends, so does its listing
                assert await asyncio.wait_for(removed.get(), WAIT) == info.id
                assert "show" not in [p.meta.get("name") for p in consumer.producers.values()]
    finally:
        await whep.close()
        await whip.close()
