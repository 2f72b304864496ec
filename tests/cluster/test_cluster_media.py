"""A real WebRTC session across a cluster: our Producer on server A, our Consumer on
server C (real webrtcbins, real Redis), video, audio and chat."""

from __future__ import annotations

import asyncio

import numpy as np

from aiogstwebrtc.media import VideoFrame
from aiogstwebrtc.signalling import Consumer, Producer
from tests.roles.test_roles import small_av

from .clustertools import cluster

WAIT = 15.0


async def test_producer_on_a_and_consumer_on_c_play_and_chat() -> None:
    async with cluster(3) as (_, (a, b, c)):
        async with (
            Producer(a.url, meta={"name": "camera"}, sources=small_av) as producer,
            Consumer(c.url) as consumer,
        ):
            info = await consumer.wait_for_producer("camera", timeout=WAIT)
            assert info.id == producer.peer_id
            assert a.router.peers[producer.peer_id].local
            assert c.router.peers[producer.peer_id].server == "A"
            session = await consumer.watch(info.id)
            video = await session.wait_track("video", WAIT)
            frame = await asyncio.wait_for(video.recv(), WAIT)
            assert isinstance(frame, VideoFrame)
            assert frame.data.shape == (240, 320, 3)
            assert frame.data.dtype == np.uint8 and frame.data.std() > 10
            audio = await session.wait_track("audio", WAIT)
            sound = await asyncio.wait_for(audio.recv(), WAIT)
            assert sound.data.shape[1] == 2  # type: ignore[union-attr]
            channel = await session.wait_channel(WAIT)
            channel.send("hello across servers")
            assert await asyncio.wait_for(channel.recv(), WAIT) == "echo: hello across servers"
            await session.wait_connected(WAIT)
            assert list(producer.sessions) == [session.session_id]
            assert session.session_id in a.router.sessions
            assert session.session_id in c.router.sessions
            assert session.session_id not in b.router.sessions

            served = producer.sessions[session.session_id]
            await session.close()
            assert "other side" in await served.wait_ended(WAIT)
            assert not producer.sessions
