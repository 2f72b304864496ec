"""WHEP across a cluster: a viewer asking server B for a stream served by server A is
sent to A (307) and plays it."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from aiogstwebrtc.media import Broadcast, VideoSource
from aiogstwebrtc.signalling import SignallingServer
from aiogstwebrtc.whep import WhepClient, WhepEndpoint

from .clustertools import eventually
from .redis_server import redis_server

WAIT = 15.0


@pytest.mark.parametrize("token", [None, "s3cret"])
async def test_a_viewer_asking_b_is_redirected_to_a_and_plays(token: str | None) -> None:
    video = VideoSource("videotestsrc is-live=true pattern=ball", width=320, height=240)
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    async with redis_server() as redis, Broadcast(video=video) as broadcast:
        a = SignallingServer("127.0.0.1", 0, redis_url=redis.url, server_id="A")
        b = SignallingServer("127.0.0.1", 0, redis_url=redis.url, server_id="B")
        on_a, on_b = WhepEndpoint(token=token), WhepEndpoint(token=token)
        on_a.add_stream("cam", broadcast)
        on_a.install(a.app)
        on_b.install(b.app)
        try:
            async with a, b:
                base_a = f"http://127.0.0.1:{a.port}"
                base_b = f"http://127.0.0.1:{b.port}"
                assert a.cluster is not None and b.cluster is not None
                a.cluster.advertise_whep(on_a, base_a)
                b.cluster.advertise_whep(on_b, base_b)
                located: list[str | None] = []

                async def locate() -> bool:
                    located.append(await b.cluster.locate_stream("cam"))  # type: ignore[union-attr]
                    return located[-1] == base_a

                async with asyncio.timeout(5):
                    while not await locate():
                        await asyncio.sleep(0.05)
                async with aiohttp.ClientSession() as http:
                    async with http.post(
                        f"{base_b}/whep/cam",
                        data="v=0\r\n",
                        headers={"Content-Type": "application/sdp", **auth},
                        allow_redirects=False,
                    ) as response:
                        assert response.status == 307
                        assert response.headers["Location"] == f"{base_a}/whep/cam"
                    async with http.post(
                        f"{base_b}/whep/nothing",
                        data="v=0\r\n",
                        headers={"Content-Type": "application/sdp", **auth},
                        allow_redirects=False,
                    ) as response:
                        assert response.status == 404
                # with a token, the client carries it to the other server of the cluster
                async with WhepClient(f"{base_b}/whep/cam", token=token) as client:
                    tracks = await client.play()
                    assert [t.kind for t in tracks] == ["video"]
                    frame = await asyncio.wait_for(tracks[0].recv(), WAIT)
                    assert (frame.width, frame.height) == (320, 240)
                    assert client.resource is not None
                    assert client.resource.startswith(f"{base_a}/whep/cam/")
                    assert on_a.viewers("cam") == 1 and on_b.viewers() == 0
                await eventually(lambda: on_a.viewers() == 0)
        finally:
            await on_a.close()
            await on_b.close()
