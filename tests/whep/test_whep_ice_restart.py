"""ICE restart over WHIP/WHEP (RFC 9725 4.4): a PATCH with new credentials, answered ``200``
with the server's new ones and a new ETag; the media goes on.

Both ends are ours here (no browser client restarts in the suite yet); the raw-HTTP part
checks what any client sees: status codes, the fragment's shape, the ETag rotation.
"""

from __future__ import annotations

import asyncio

import aiohttp

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.icerestart import IceCredentials, credentials_of
from aiogstwebrtc.media import RemoteTrack, VideoSource
from aiogstwebrtc.signalling import SignallingServer
from aiogstwebrtc.whep import WhepClient, WhepEndpoint, WhepError, WhipClient, WhipEndpoint
from aiogstwebrtc.whep.sdpfrag import parse_fragment
from tests.whep.test_whep import WAIT, whep_server

FRAG = {"Content-Type": "application/trickle-ice-sdpfrag"}


def _ufrags(pc: PeerConnection) -> tuple[str, str]:
    local, remote = pc.local_description, pc.remote_description
    assert local is not None and remote is not None
    ours, theirs = credentials_of(local.sdp), credentials_of(remote.sdp)
    assert ours is not None and theirs is not None
    return ours.ufrag, theirs.ufrag


async def _frames(track: RemoteTrack, count: int) -> None:
    for _ in range(count):
        await asyncio.wait_for(track.recv(), WAIT)


async def test_a_whep_player_restarts_ice_and_keeps_playing() -> None:
    async with whep_server() as (base, endpoint, _broadcast):
        async with WhepClient(f"{base}/cam") as client:
            tracks = {track.kind: track for track in await client.play(("video",))}
            await _frames(tracks["video"], 3)
            states: list[str] = []
            client.pc.on(
                "iceconnectionstatechange", lambda: states.append(client.pc.ice_connection_state)
            )
            before, etag_before = _ufrags(client.pc), client._etag

            await client.restart_ice()

            after = _ufrags(client.pc)
            assert after[0] != before[0] and after[1] != before[1], (before, after)
            assert client._etag and client._etag != etag_before
            await client.pc.wait_for_connection_state("connected", WAIT)
            for _ in range(300):
                if states[-2:] == ["checking", "connected"]:
                    break
                await asyncio.sleep(0.02)
            assert states[-2:] == ["checking", "connected"], states  # libnice checked anew
            await _frames(tracks["video"], 10)
            assert endpoint.sessions("cam") == 1


async def test_restart_statuses_and_the_etag_after_it() -> None:
    async with whep_server() as (base, endpoint, _broadcast):
        async with WhepClient(f"{base}/cam") as client:
            tracks = {track.kind: track for track in await client.play(("video",))}
            await _frames(tracks["video"], 1)
            resource, old_etag = client.resource, client._etag
            assert resource is not None and old_etag is not None
            async with aiohttp.ClientSession() as http:
                no_pwd = "a=ice-ufrag:newnewnew\r\n"
                async with http.patch(resource, data=no_pwd, headers=FRAG) as reply:
                    assert reply.status == 400, await reply.text()
                bad = "a=ice-ufrag:a b\r\na=ice-pwd:xxxxxxxxxxxxxxxxxxxxxxxx\r\n"
                async with http.patch(resource, data=bad, headers=FRAG) as reply:
                    assert reply.status == 400, await reply.text()

                # The client restarts: a new ETag; the old one no longer matches.
                await client.restart_ice()
                new_etag = client._etag
                assert new_etag not in (None, old_etag)
                trickle = "a=mid:0\r\na=candidate:1 1 udp 2130706431 10.99.0.1 9 typ host\r\n"
                stale = dict(FRAG, **{"If-Match": old_etag})
                async with http.patch(resource, data=trickle, headers=stale) as reply:
                    assert reply.status == 412, await reply.text()
                fresh = dict(FRAG, **{"If-Match": new_etag})
                async with http.patch(resource, data=trickle, headers=fresh) as reply:
                    assert reply.status == 204, await reply.text()

                # A restart by hand: the 200 carries the server's new credentials, candidates
                # under their m-line and mid, and another ETag.
                mine = IceCredentials.generate()
                body = f"a=ice-ufrag:{mine.ufrag}\r\na=ice-pwd:{mine.pwd}\r\n"
                headers = dict(FRAG, **{"If-Match": "*"})
                async with http.patch(resource, data=body, headers=headers) as reply:
                    text = await reply.text()
                    assert reply.status == 200, text
                    assert reply.content_type == "application/trickle-ice-sdpfrag"
                    assert reply.headers["ETag"] not in (old_etag, new_etag)
                fragment = parse_fragment(text)
                server = credentials_of(client.pc.remote_description.sdp)  # type: ignore[union-attr]
                assert fragment.credentials is not None and server is not None
                assert fragment.ufrag != server.ufrag  # renewed again, for our hand-made restart
                assert fragment.candidates
                mid = client.pc.local_description.media[0].mid  # type: ignore[union-attr]
                assert all(c.sdp_mid == mid and c.sdp_mline_index == 0 for c in fragment.candidates)
                assert all(" typ host" in c.candidate for c in fragment.candidates)
                assert text.startswith("a=ice-ufrag:") and "\r\nm=video " in text
            assert endpoint.sessions("cam") == 1


async def test_a_whip_publisher_restarts_ice_and_its_viewer_keeps_playing() -> None:
    server = SignallingServer(port=0)
    whep = WhepEndpoint()
    whip = WhipEndpoint(whep, open=True)
    whep.install(server.app)
    whip.install(server.app)
    try:
        async with server:
            base = f"http://127.0.0.1:{server.port}"
            async with WhipClient(f"{base}/whip/live") as publisher:
                await publisher.publish(
                    VideoSource("videotestsrc is-live=true pattern=ball", width=160, height=120)
                )
                viewer, track = await _play(f"{base}/whep/live")
                try:
                    await _frames(track, 3)
                    before = _ufrags(publisher.pc)

                    await publisher.restart_ice()

                    after = _ufrags(publisher.pc)
                    assert after[0] != before[0] and after[1] != before[1], (before, after)
                    await publisher.pc.wait_for_connection_state("connected", WAIT)
                    await _frames(track, 20)  # ~1 s of the publisher's frames, relayed
                    assert whep.viewers("live") == 1
                finally:
                    await viewer.close()
    finally:
        await whep.close()
        await whip.close()


async def _play(url: str) -> tuple[WhepClient, RemoteTrack]:
    """A player of the ingested stream once it exists (404 until the media flows)."""
    for _ in range(75):
        viewer = WhepClient(url)
        try:
            return viewer, (await viewer.play(("video",)))[0]
        except WhepError as exc:
            await viewer.close()
            if exc.status != 404:
                raise
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never appeared")
