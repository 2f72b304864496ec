"""WHIP ingest: aiortc publishes over plain HTTP (a publisher we did not write), our
WhepClient plays the same stream name, passed through."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiortc import RTCSessionDescription, VideoStreamTrack

from aiogstwebrtc.signalling import SignallingServer
from aiogstwebrtc.whep import WhepClient, WhepEndpoint, WhepError, WhipClient, WhipEndpoint
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
                successor = aiortc_peer()  # the name is free again for a new publisher
                try:
                    successor.addTransceiver(VideoStreamTrack(), direction="sendonly")
                    await successor.setLocalDescription(await successor.createOffer())
                    async with http.post(
                        f"{base}/whip/live",
                        data=successor.localDescription.sdp,
                        headers={**SDP, **TOKEN},
                    ) as response:
                        assert response.status == 201, await response.text()
                finally:
                    await successor.close()
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


async def test_our_whip_client_publishes_and_two_players_get_it_without_transcoding() -> None:
    from aiogstwebrtc.media import AudioSource, VideoSource
    from tests.media.walk import ingest_codec_elements

    server = SignallingServer(port=0)
    whep = WhepEndpoint()
    whip = WhipEndpoint(whep, token="pub")
    whep.install(server.app)
    whip.install(server.app)
    try:
        async with server:
            base = f"http://127.0.0.1:{server.port}"
            async with WhipClient(f"{base}/whip/show", token="pub") as publisher:
                await publisher.publish(VideoSource(width=320, height=240), AudioSource())
                players = [WhepClient(f"{base}/whep/show") for _ in range(2)]
                try:
                    for player in players:
                        for _ in range(50):  # live once the publisher's media flows
                            try:
                                tracks = {t.kind: t for t in await player.play()}
                                break
                            except WhepError as exc:
                                assert exc.status == 404, exc
                                await player.close()
                                players[players.index(player)] = player = WhepClient(
                                    f"{base}/whep/show"
                                )
                                await asyncio.sleep(0.2)
                        frame = await asyncio.wait_for(tracks["video"].recv(), WAIT)
                        assert (frame.width, frame.height) == (320, 240)
                        audio = await asyncio.wait_for(tracks["audio"].recv(), WAIT)
                        assert audio.sample_rate == 48000
                    assert whep.viewers("show") == 2
                    assert await ingest_codec_elements(whip) == []  # no decoder, no encoder
                finally:
                    for player in players:
                        await player.close()
            assert whip.sessions() == 0  # the publisher's close sent its DELETE
    finally:
        await whep.close()
        await whip.close()


async def test_a_publisher_that_vanishes_ends_its_stream_within_the_dead_peer_timeout() -> None:
    """``whip-publish`` SIGKILLed (no DELETE, no DTLS close): the dead-peer monitor of the
    ingest session notices, the stream and its viewers end, the name is free again."""
    import signal

    from aiogstwebrtc import Configuration
    from tests.roles.proctools import command, read_until

    timeout = 3.0
    server = SignallingServer(port=0)
    whep = WhepEndpoint()
    whip = WhipEndpoint(whep, token="pub", configuration=Configuration(dead_peer_timeout=timeout))
    whep.install(server.app)
    whip.install(server.app)
    try:
        async with server:
            base = f"http://127.0.0.1:{server.port}"
            async with command(
                "whip-publish", f"{base}/whip/live", "--token", "pub", "--audio", "none"
            ) as publisher:
                await read_until(publisher, r"publishing to")
                viewer = WhepClient(f"{base}/whep/live")
                try:
                    tracks = []
                    for _ in range(50):  # the stream appears once the publisher's media flows
                        try:
                            tracks = await viewer.play(("video",))
                            break
                        except WhepError as exc:
                            if exc.status != 404:
                                raise
                            await viewer.close()
                            viewer = WhepClient(f"{base}/whep/live")
                            await asyncio.sleep(0.2)
                    assert tracks, "the WHIP stream never appeared over WHEP"
                    await asyncio.wait_for(tracks[0].recv(), WAIT)
                    ended = asyncio.Event()
                    tracks[0].on("ended", ended.set)
                    publisher.send_signal(signal.SIGKILL)
                    await publisher.wait()
                    started = asyncio.get_running_loop().time()
                    while whip.sessions("live") or whep.viewers("live"):
                        assert asyncio.get_running_loop().time() - started < 3 * timeout, (
                            f"publisher gone {3 * timeout} s: still {whip.sessions('live')} "
                            f"ingest and {whep.viewers('live')} viewer sessions"
                        )
                        await asyncio.sleep(0.1)
                    await asyncio.wait_for(ended.wait(), WAIT)  # the viewer's track ended
                finally:
                    await viewer.close()
            async with WhipClient(f"{base}/whip/live", token="pub") as successor:
                from aiogstwebrtc.media import VideoSource

                await successor.publish(VideoSource(width=320, height=240))  # 201: name free
                assert successor.resource is not None
    finally:
        await whep.close()
        await whip.close()
