"""A peer that vanishes is noticed; a quiet but live peer is not mistaken for a dead one."""

from __future__ import annotations

import asyncio
import time

import pytest

from aiogstwebrtc import Configuration, PeerConnection, WebRTCError
from aiogstwebrtc.media import RemoteTrack, VideoSource
from tests.helpers import connected_pair, wire_trickle
from tests.reliability.netfilter import impaired
from tests.reliability.scripts import run_script


def test_a_keepalive_poke_before_the_sctp_association_is_skipped() -> None:
    # The bench's 250 pairs at once crashed here (SIGSEGV) on 1.22: a poke reached a
    # keepalive channel not yet linked to an SCTP transport.
    result = run_script("poke_before_sctp.py", timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "keepalives sent: 0" in result.stdout, result.stdout + result.stderr[-2000:]


def test_the_default_timeout_is_at_most_ten_seconds() -> None:
    timeout = Configuration().dead_peer_timeout
    assert timeout is not None and timeout <= 10


async def _states(pc: PeerConnection) -> list[tuple[float, str]]:
    seen: list[tuple[float, str]] = []
    pc.on("connectionstatechange", lambda: seen.append((time.monotonic(), pc.connection_state)))
    return seen


async def test_a_vanished_data_channel_peer_is_noticed() -> None:
    async with connected_pair(Configuration(dead_peer_timeout=3)) as pair:
        a = pair.offerer
        seen = await _states(a)
        errors: list[object] = []
        pair.channel.on("close", lambda: errors.append(pair.channel.ready_state))
        gone = time.monotonic()
        await pair.answerer.close()  # its pipeline goes to NULL: no goodbye on the wire
        await a.wait_for_connection_state("failed", timeout=8)
        took = time.monotonic() - gone
        assert [state for _, state in seen] == ["disconnected", "failed"]
        assert took <= 3 + 1.5
        assert pair.channel.ready_state == "closed" and errors == ["closed"]
        with pytest.raises(WebRTCError, match="stopped answering"):
            await pair.channel.recv()


async def test_a_vanished_media_peer_is_noticed() -> None:
    a, b = PeerConnection(Configuration(dead_peer_timeout=3)), PeerConnection()
    try:
        wire_trickle(a, b)
        tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
        a.on("track", tracks.put_nowait)
        await b.add_track(VideoSource(width=160, height=120))
        offer = await b.create_offer()
        await b.set_local_description(offer)
        await b.set_remote_description(await a.handle_offer(offer))
        track = await asyncio.wait_for(tracks.get(), 15)
        ended = asyncio.Event()
        track.on("ended", ended.set)
        await a.wait_for_connection_state("connected", 10)
        await b.close()
        await a.wait_for_connection_state("failed", timeout=8)
        await asyncio.wait_for(ended.wait(), 2)
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_an_idle_live_peer_stays_connected() -> None:
    async with connected_pair(Configuration(dead_peer_timeout=2)) as pair:
        seen = await _states(pair.offerer)
        await asyncio.sleep(5)  # idle on purpose: 2.5 timeouts without user traffic
        assert pair.offerer.connection_state == "connected"
        assert seen == []
        monitor = pair.offerer._pipeline.liveness
        assert monitor is not None and monitor.keepalives_sent > 0
        pair.channel.send("still here")
        assert await asyncio.wait_for(pair.remote.recv(), 5) == "still here"


async def test_an_outage_goes_disconnected_and_back_and_reliable_data_survives() -> None:
    async with connected_pair(Configuration(dead_peer_timeout=6)) as pair:
        a = pair.offerer
        seen = await _states(a)
        with impaired() as network:
            network.outage()
            started = time.monotonic()
            for number in range(100):  # sent into the outage: must arrive afterwards
                pair.channel.send(f"{number}")
            await a.wait_for_connection_state("disconnected", timeout=6)
            await asyncio.sleep(max(0.0, started + 3 - time.monotonic()))  # 3 s outage in all
            network.clear()
            await a.wait_for_connection_state("connected", timeout=10)
        received = [await asyncio.wait_for(pair.remote.recv(), 10) for _ in range(100)]
        assert received == [f"{number}" for number in range(100)]
        assert [state for _, state in seen] == ["disconnected", "connected"]


async def test_reserved_keepalive_id() -> None:
    pc = PeerConnection()
    try:
        with pytest.raises(ValueError, match="reserved"):
            await pc.create_data_channel("x", negotiated=True, id=1023)
    finally:
        await pc.close()
    free = PeerConnection(Configuration(dead_peer_timeout=None))
    try:
        channel = await free.create_data_channel("x", negotiated=True, id=1023)
        assert channel.id == 1023
    finally:
        await free.close()
