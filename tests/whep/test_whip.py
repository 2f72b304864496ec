"""WHIP ingest: aiortc publishes over plain HTTP (a publisher we did not write), our
WhepClient plays the same stream name, passed through."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiortc import RTCSessionDescription, VideoStreamTrack

from aiogstwebrtc.signalling import SignallingServer
from aiogstwebrtc.whep import WhepClient, WhepEndpoint, WhepError, WhipEndpoint
from tests.aiortc_peer import aiortc_peer

WAIT = 15.0
TOKEN = {"Authorization": "Bearer pub"}
SDP = {"Content-Type": "application/sdp"}


async def test_an_aiortc_publisher_is_played_over_whep_until_it_leaves() -> None:
    server = SignallingServer(port=0)
    whep = WhepEndpoint()
    whip = WhipEndpoint(whep, token="pub")
    whep.install(server.app)
    whip.install(server.app)
    publisher = aiortc_peer()
    try:
        async with server, aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{server.port}"
            publisher.addTransceiver(VideoStreamTrack(), direction="sendonly")
            await publisher.setLocalDescription(await publisher.createOffer())
            offer = publisher.localDescription.sdp
            async with http.post(f"{base}/whip/live", data=offer, headers=SDP) as response:
                assert response.status == 401  # ingest always wants its token
            async with http.post(
                f"{base}/whip/live", data=offer, headers={**SDP, **TOKEN}
            ) as response:
                assert response.status == 201, await response.text()
                location = response.headers["Location"]
                answer = await response.text()
            await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            async with http.post(
                f"{base}/whip/live", data=offer, headers={**SDP, **TOKEN}
            ) as response:
                assert response.status == 409  # one publisher per stream

            viewer = WhepClient(f"{base}/whep/live")
            try:
                tracks = []
                for _ in range(50):  # the stream appears once the publisher's media flows
                    try:
                        tracks = await viewer.play()
                        break
                    except WhepError as exc:  # 404 until then
                        if exc.status != 404:
                            raise
                        await viewer.close()
                        viewer = WhepClient(f"{base}/whep/live")
                        await asyncio.sleep(0.2)
                assert tracks, "the WHIP stream never appeared over WHEP"
                frame = await asyncio.wait_for(tracks[0].recv(), WAIT)
                assert (frame.width, frame.height) == (640, 480)  # aiortc's test pattern
                assert whep.viewers("live") == 1

                async with http.delete(f"{base}{location}", headers=TOKEN) as response:
                    assert response.status == 200
                assert whep.viewers() == 0  # the publisher left: so did its viewers
                async with http.post(f"{base}/whep/live", data=offer, headers=SDP) as response:
                    assert response.status == 404
            finally:
                await viewer.close()
    finally:
        await publisher.close()
        await whep.close()
        await whip.close()


def test_whip_needs_a_token_unless_opened_for_testing() -> None:
    with pytest.raises(ValueError):
        WhipEndpoint(WhepEndpoint())
    WhipEndpoint(WhepEndpoint(), open=True)
