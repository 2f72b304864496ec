"""``restart_ice()`` between two of our peers, and against aiortc, with no NAT (the test
run's own namespace).

The restart is negotiated in the running session: new ICE credentials in offer and answer,
libnice checks again, and a data channel sending numbered messages all along loses and
reorders none of them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogstwebrtc import IceCandidate, PeerConnection
from aiogstwebrtc.icerestart import credentials_of
from aiogstwebrtc.media import AudioSource, RemoteTrack
from tests.aiortc_peer import aiortc_peer, from_aiortc, to_aiortc, we_offer
from tests.helpers import connected_pair, wire_trickle

log = logging.getLogger(__name__)


def _ufrag(pc: PeerConnection) -> str:
    description = pc.local_description
    assert description is not None
    credentials = credentials_of(description.sdp)
    assert credentials is not None
    return credentials.ufrag


async def test_restart_ice_renews_credentials_and_keeps_the_channel() -> None:
    async with connected_pair() as pair:
        a, b = pair.offerer, pair.answerer
        old_a, old_b = (
            credentials_of(a.local_description.sdp),
            credentials_of(  # type: ignore[union-attr]
                b.local_description.sdp  # type: ignore[union-attr]
            ),
        )
        states: list[str] = []
        a.on("iceconnectionstatechange", lambda: states.append(a.ice_connection_state))
        needed = asyncio.get_running_loop().create_future()
        a.on("negotiationneeded", lambda: needed.done() or needed.set_result(None))
        new_candidates: list[IceCandidate] = []
        b.on("icecandidate", lambda c: c is not None and new_candidates.append(c))

        received: list[int] = []
        done = asyncio.get_running_loop().create_future()

        @pair.remote.on("message")  # type: ignore[misc]
        def on_message(message: str) -> None:
            if message == "end":
                done.set_result(None)
            else:
                received.append(int(message))

        sent = 0
        stop = asyncio.Event()

        async def send() -> None:
            nonlocal sent
            while not stop.is_set():
                pair.channel.send(str(sent))
                sent += 1
                await asyncio.sleep(0.005)

        sender = asyncio.ensure_future(send())
        await asyncio.sleep(0.2)
        await a.restart_ice()
        await asyncio.wait_for(needed, 2)  # restart in stable: negotiationneeded

        offer = await a.create_offer()
        new_a = credentials_of(offer.sdp)
        assert new_a is not None and old_a is not None
        assert new_a.ufrag != old_a.ufrag and new_a.pwd != old_a.pwd
        await a.set_local_description(offer)
        answer = await b.handle_offer(offer)
        new_b = credentials_of(answer.sdp)
        assert new_b is not None and old_b is not None
        assert new_b.ufrag != old_b.ufrag and new_b.pwd != old_b.pwd
        await a.set_remote_description(answer)
        assert _ufrag(a) == new_a.ufrag and _ufrag(b) == new_b.ufrag

        # libnice checked again: checking, then connected
        await a.wait_for_connection_state("connected", 10)
        for _ in range(200):
            if states[-2:] == ["checking", "connected"]:
                break
            await asyncio.sleep(0.01)
        assert states[-2:] == ["checking", "connected"], states
        # b announced its candidates again, for the new generation
        assert new_candidates and {c.username_fragment for c in new_candidates} == {new_b.ufrag}

        # a candidate of the old generation is ignored; one of the new one is taken
        stale = IceCandidate(
            "candidate:9 1 UDP 2015363327 10.213.0.2 9 typ host", 0, None, old_b.ufrag
        )
        await a.add_ice_candidate(stale)
        fresh = IceCandidate(
            "candidate:8 1 UDP 2015363327 10.213.0.2 8 typ host", 0, None, new_b.ufrag
        )
        await a.add_ice_candidate(fresh)
        # one of a generation whose description has not come waits for it
        future = IceCandidate(
            "candidate:7 1 UDP 2015363327 10.213.0.2 7 typ host", 0, None, "not-yet-known"
        )
        await a.add_ice_candidate(future)
        remote_sdp = a.remote_description.sdp  # type: ignore[union-attr]
        assert " 10.213.0.2 9 typ host" not in remote_sdp
        assert " 10.213.0.2 8 typ host" in remote_sdp
        assert " 10.213.0.2 7 typ host" not in remote_sdp

        await asyncio.sleep(0.3)
        stop.set()
        await sender
        pair.channel.send("end")
        await asyncio.wait_for(done, 10)
        log.warning("ICE restart on loopback: %d messages sent, %d received", sent, len(received))
        assert received == list(range(sent))
        assert a.connection_state == b.connection_state == "connected"


async def test_restart_ice_against_aiortc_keeps_the_session() -> None:
    """aiortc 1.16 has no ICE restart: its answer keeps its credentials (its ICE transport
    starts once). Our side then goes back to its old credentials instead of restarting
    libnice's stream, which would fail every new check (aioice rejects the new username)."""
    ours = PeerConnection()
    theirs = aiortc_peer()
    try:
        received: list[int] = []
        done = asyncio.get_running_loop().create_future()

        @theirs.on("datachannel")  # type: ignore[misc]
        def on_channel(channel: Any) -> None:
            @channel.on("message")  # type: ignore[misc]
            def on_message(message: str) -> None:
                if message == "end":
                    done.set_result(None)
                else:
                    received.append(int(message))

        channel = await ours.create_data_channel("x")
        await we_offer(ours, theirs, trickle=False)
        await channel.wait_open(10)
        old = credentials_of(ours.local_description.sdp)  # type: ignore[union-attr]
        for n in range(50):
            channel.send(str(n))
        await ours.restart_ice()
        offer = await ours.create_offer()
        assert credentials_of(offer.sdp) != old
        await ours.set_local_description(offer)
        for n in range(50, 100):
            channel.send(str(n))
        await theirs.setRemoteDescription(to_aiortc(ours.local_description))  # type: ignore[arg-type]
        await theirs.setLocalDescription(await theirs.createAnswer())
        await ours.set_remote_description(from_aiortc(theirs.localDescription))
        # back on the old credentials, in the description and in the next offer
        assert credentials_of(ours.local_description.sdp) == old  # type: ignore[union-attr]
        assert credentials_of((await ours.create_offer()).sdp) == old
        await asyncio.sleep(1.5)  # checks and consent go on with the old credentials
        for n in range(100, 150):
            channel.send(str(n))
        channel.send("end")
        await asyncio.wait_for(done, 10)
        assert received == list(range(150))
        assert ours.connection_state == "connected"
        assert ours.ice_connection_state == "connected"
        assert theirs.iceConnectionState == "completed"
    finally:
        await ours.close()
        await theirs.close()


async def test_restart_ice_keeps_a_track_playing() -> None:
    """A track is carried on through the restart: the same remote track, no new one, its
    audio still arriving with timestamps running on."""
    a, b = PeerConnection(), PeerConnection()
    try:
        tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
        b.on("track", tracks.put_nowait)
        wire_trickle(a, b)
        await a.add_track(AudioSource())
        offer = await a.create_offer()
        await a.set_local_description(offer)
        await a.set_remote_description(await b.handle_offer(offer))
        track = await asyncio.wait_for(tracks.get(), 15)
        before = [(await asyncio.wait_for(track.recv(), 10)).pts for _ in range(5)]
        old = credentials_of(a.local_description.sdp)  # type: ignore[union-attr]
        states: list[str] = []
        a.on("iceconnectionstatechange", lambda: states.append(a.ice_connection_state))

        await a.restart_ice()
        offer = await a.create_offer()
        assert credentials_of(offer.sdp) != old
        await a.set_local_description(offer)
        await a.set_remote_description(await b.handle_offer(offer))
        after = [(await asyncio.wait_for(track.recv(), 10)).pts for _ in range(50)]
        assert states == ["checking", "connected"]  # libnice checked again meanwhile
        assert tracks.empty() and len(b.get_receivers()) == 1  # no new track
        assert all(p is not None for p in before + after)
        assert after[-1] > before[-1]  # type: ignore[operator]
        assert after == sorted(after)  # type: ignore[type-var]
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_the_first_answerer_can_restart_ice_too() -> None:
    """The side that answered first restarts: it offers now, the other side answers."""
    async with connected_pair() as pair:
        a, b = pair.offerer, pair.answerer
        old = credentials_of(a.local_description.sdp)  # type: ignore[union-attr]
        states: list[tuple[str, str]] = []
        a.on("iceconnectionstatechange", lambda: states.append(("a", a.ice_connection_state)))
        b.on("iceconnectionstatechange", lambda: states.append(("b", b.ice_connection_state)))
        await b.restart_ice()
        offer = await b.create_offer()
        await b.set_local_description(offer)
        await b.set_remote_description(await a.handle_offer(offer))
        assert credentials_of(a.local_description.sdp) != old  # type: ignore[union-attr]
        for n in range(20):
            pair.remote.send(str(n))
        got = [await asyncio.wait_for(pair.channel.recv(), 10) for _ in range(20)]
        assert got == [str(n) for n in range(20)]
        for _ in range(200):
            if ("a", "connected") in states and ("b", "connected") in states:
                break
            await asyncio.sleep(0.01)
        for side in ("a", "b"):
            assert [s for who, s in states if who == side] == ["checking", "connected"], states
