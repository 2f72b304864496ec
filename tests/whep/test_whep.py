"""WHEP playout: our endpoint in the signalling server's application, played by our
WhepClient and by aiortc speaking plain HTTP (a player we did not write)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from aiogstwebrtc.media import AudioSource, Broadcast, VideoSource
from aiogstwebrtc.signalling import SignallingServer
from aiogstwebrtc.whep import WhepClient, WhepEndpoint, WhepError
from tests.aiortc_peer import aiortc_peer
from tests.media.walk import encoders

WAIT = 15.0


@asynccontextmanager
async def whep_server(**options: Any) -> AsyncIterator[tuple[str, WhepEndpoint, Broadcast]]:
    """A signalling server with a WHEP endpoint serving stream 'cam' (VP8 + Opus)."""
    video = VideoSource("videotestsrc is-live=true pattern=ball", width=320, height=240)
    async with Broadcast(video=video, audio=AudioSource()) as broadcast:
        server = SignallingServer(port=0)
        endpoint = WhepEndpoint(**options)
        endpoint.add_stream("cam", broadcast)
        endpoint.install(server.app)
        try:
            async with server:
                yield f"http://127.0.0.1:{server.port}/whep", endpoint, broadcast
        finally:
            await endpoint.close()


async def test_two_whep_clients_and_aiortc_play_one_encode() -> None:
    async with whep_server() as (base, endpoint, broadcast):
        clients = [WhepClient(f"{base}/cam"), WhepClient(f"{base}/cam")]
        try:
            for client in clients:
                tracks = {track.kind: track for track in await client.play()}
                assert set(tracks) == {"video", "audio"}
                frame = await asyncio.wait_for(tracks["video"].recv(), WAIT)
                assert (frame.width, frame.height) == (320, 240)
                audio = await asyncio.wait_for(tracks["audio"].recv(), WAIT)
                assert audio.sample_rate == 48000
            # aiortc offers to receive over plain HTTP, trickle-free (it gathers first).
            theirs = aiortc_peer()
            try:
                got: asyncio.Queue[Any] = asyncio.Queue()
                theirs.on("track", got.put_nowait)
                theirs.addTransceiver("video", direction="recvonly")
                await theirs.setLocalDescription(await theirs.createOffer())
                async with aiohttp.ClientSession() as http:
                    response = await http.post(
                        f"{base}/cam",
                        data=theirs.localDescription.sdp,
                        headers={"Content-Type": "application/sdp"},
                    )
                    assert response.status == 201, await response.text()
                    assert response.headers["Location"].startswith("/whep/cam/")
                    assert response.headers["ETag"]
                    from aiortc import RTCSessionDescription

                    answer = RTCSessionDescription(sdp=await response.text(), type="answer")
                    await theirs.setRemoteDescription(answer)
                    track = await asyncio.wait_for(got.get(), WAIT)
                    frame = await asyncio.wait_for(track.recv(), WAIT)
                    assert (frame.width, frame.height) == (320, 240)
                    assert endpoint.viewers("cam") == 3
                    deleted = await http.delete(
                        base.removesuffix("/whep") + response.headers["Location"]
                    )
                    assert deleted.status == 200
            finally:
                await theirs.close()
            assert endpoint.viewers("cam") == 2
            names = sorted(e.get_factory().get_name() for e in broadcast.encoders())
            assert names == ["opusenc", "vp8enc"], names  # one encode for every viewer
            for client in clients:
                viewer_encoders = await client.pc.run_in_glib(lambda p, _w: encoders(p))
                assert viewer_encoders == []
        finally:
            for client in clients:
                await client.close()
        assert endpoint.viewers() == 0  # each close sent its DELETE


async def _request(
    http: aiohttp.ClientSession, method: str, url: str, body: str = "", **headers: str
) -> tuple[int, str, Any]:
    async with http.request(method, url, data=body, headers=headers) as response:
        return response.status, await response.text(), response.headers


async def test_protocol_statuses() -> None:
    async with whep_server(token="s3cret") as (base, endpoint, _broadcast):
        root = base.removesuffix("/whep")
        good = {"Authorization": "Bearer s3cret"}
        async with aiohttp.ClientSession() as http:
            sdp = {"Content-Type": "application/sdp"}
            status, text, _ = await _request(http, "POST", f"{base}/cam", "v=0", **sdp)
            assert status == 401, text
            status, text, _ = await _request(
                http, "POST", f"{base}/cam", "v=0", **sdp, Authorization="Bearer nope"
            )
            assert status == 403, text
            status, text, _ = await _request(
                http, "POST", f"{base}/cam", "v=0", **good, **{"Content-Type": "text/plain"}
            )
            assert status == 415, text
            status, text, _ = await _request(http, "POST", f"{base}/cam", "junk", **good, **sdp)
            assert status == 400 and "does not parse" in text, text
            status, text, _ = await _request(http, "POST", f"{base}/nope", "v=0", **good, **sdp)
            assert status == 404, text
            status, text, _ = await _request(http, "GET", f"{base}/cam")
            assert status == 405, text
            status, _, headers = await _request(http, "OPTIONS", f"{base}/cam")
            assert status == 204
            assert "Location" in headers["Access-Control-Expose-Headers"]
            allowed = [h.strip() for h in headers["Access-Control-Allow-Headers"].split(",")]
            for name in ("Authorization", "Content-Type", "If-Match", "ETag"):
                assert name in allowed  # ETag: @eyevinn/whip-web-client PATCHes with it
            # ... and trickles only if it can read PATCH here, also from another origin.
            assert "PATCH" in headers["Access-Control-Allow-Methods"]
            exposed = [h.strip() for h in headers["Access-Control-Expose-Headers"].split(",")]
            assert "Access-Control-Allow-Methods" in exposed

        async with WhepClient(f"{base}/cam", token="s3cret") as client:
            await client.play()
            resource = client.resource
            assert resource is not None
            async with aiohttp.ClientSession() as http:
                frag = {"Content-Type": "application/trickle-ice-sdpfrag"}
                fragment = "a=mid:0\r\na=candidate:1 1 udp 2130706431 10.99.0.1 9 typ host\r\n"
                status, text, _ = await _request(
                    http, "PATCH", resource, fragment, **good, **frag, **{"If-Match": '"x"'}
                )
                assert status == 412, text
                status, text, _ = await _request(http, "PATCH", resource, fragment, **good, **frag)
                assert status == 204, text
                status, text, _ = await _request(  # an ETag request header is no If-Match
                    http, "PATCH", resource, fragment, **good, **frag, **{"ETag": '"x"'}
                )
                assert status == 204, text
                restart = "a=ice-ufrag:other\r\na=ice-pwd:otherotherotherotherot\r\n"
                status, text, headers = await _request(
                    http, "PATCH", resource, restart, **good, **frag
                )
                assert status == 200 and "a=ice-ufrag:" in text, text  # tests/whep/..._restart
                etag = headers["ETag"]
                status, text, _ = await _request(
                    http, "PATCH", resource, fragment, **good, **frag, **{"If-Match": etag}
                )
                assert status == 204, text
                status, text, _ = await _request(http, "DELETE", resource, **good)
                assert status == 200, text
                status, text, _ = await _request(http, "DELETE", resource, **good)
                assert status == 404, text
                status, text, _ = await _request(http, "PATCH", resource, fragment, **good, **frag)
                assert status == 404, text
                assert endpoint.viewers() == 0
            client.resource = None  # already deleted
        assert root


async def test_a_player_without_the_stream_codec_gets_400_and_a_wrong_token_raises() -> None:
    async with whep_server(token="t") as (base, endpoint, _broadcast):
        with pytest.raises(WhepError) as refused:
            async with WhepClient(f"{base}/cam", token="wrong") as client:
                await client.play()
        assert refused.value.status == 403
        from aiortc import RTCRtpReceiver

        theirs = aiortc_peer()
        try:
            transceiver = theirs.addTransceiver("video", direction="recvonly")
            transceiver.setCodecPreferences(
                [c for c in RTCRtpReceiver.getCapabilities("video").codecs if c.name == "H264"]
            )
            await theirs.setLocalDescription(await theirs.createOffer())
            async with aiohttp.ClientSession() as http:
                status, text, _ = await _request(
                    http,
                    "POST",
                    f"{base}/cam",
                    theirs.localDescription.sdp,
                    **{"Content-Type": "application/sdp", "Authorization": "Bearer t"},
                )
            assert status == 400 and "H264" in text and "VP8" in text, text
            assert endpoint.viewers() == 0
        finally:
            await theirs.close()
