"""Shared test helpers: connected peer pairs (resource counts are in :mod:`tests.leakcheck`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogstwebrtc import Configuration, DataChannel, PeerConnection

if TYPE_CHECKING:
    from aiogstwebrtc.media import AudioSource, RemoteTrack, VideoSource


@dataclass
class Pair:
    offerer: PeerConnection
    answerer: PeerConnection
    channel: DataChannel  # the offerer's channel
    remote: DataChannel  # the answerer's side of it


def wire_trickle(a: PeerConnection, b: PeerConnection) -> None:
    """Forward each side's trickled candidates to the other."""

    def forward(target: PeerConnection):  # type: ignore[no-untyped-def]
        async def send(candidate):  # type: ignore[no-untyped-def]
            if candidate is not None:
                await target.add_ice_candidate(candidate)

        return send

    a.on("icecandidate", forward(b))
    b.on("icecandidate", forward(a))


@asynccontextmanager
async def connected_pair(
    offerer_config: Configuration | None = None,
    answerer_config: Configuration | None = None,
    *,
    label: str = "chat",
    trickle: bool = True,
    timeout: float = 15.0,
    **channel_options: object,
) -> AsyncIterator[Pair]:
    """Two peers negotiated with a data channel open on both sides."""
    a = PeerConnection(offerer_config)
    b = PeerConnection(answerer_config)
    try:
        remote_channel: asyncio.Future[DataChannel] = asyncio.get_running_loop().create_future()
        b.on("datachannel", lambda ch: remote_channel.done() or remote_channel.set_result(ch))
        if trickle:
            wire_trickle(a, b)
        channel = await a.create_data_channel(label, **channel_options)  # type: ignore[arg-type]
        offer = await a.create_offer()
        await a.set_local_description(offer)
        if not trickle:
            await a.wait_for_ice_gathering_complete(timeout)
            offer = a.local_description  # type: ignore[assignment]
        answer = await b.handle_offer(offer)
        if not trickle:
            await b.wait_for_ice_gathering_complete(timeout)
            answer = b.local_description  # type: ignore[assignment]
        await a.set_remote_description(answer)
        await channel.wait_open(timeout)
        remote = await asyncio.wait_for(remote_channel, timeout)
        await remote.wait_open(timeout)
        yield Pair(a, b, channel, remote)
    finally:
        await asyncio.gather(a.close(), b.close())


class Clock:
    """A clock the test moves by hand (``clock.now += 1.5``), for the rate limits' buckets."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def negotiate(a: PeerConnection, b: PeerConnection) -> None:
    """One offer/answer round: ``a`` offers, ``b`` answers (candidates trickle separately)."""
    offer = await a.create_offer()
    await a.set_local_description(offer)
    await a.set_remote_description(await b.handle_offer(offer))


async def media_pair(
    *sources: VideoSource | AudioSource,
) -> tuple[PeerConnection, PeerConnection, asyncio.Queue[RemoteTrack]]:
    """``a`` sends ``sources`` to ``b`` (trickle, negotiated); ``b``'s tracks come in the queue."""
    a, b = PeerConnection(), PeerConnection()
    tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
    b.on("track", tracks.put_nowait)
    wire_trickle(a, b)
    for source in sources:
        await a.add_track(source)
    await negotiate(a, b)
    return a, b, tracks
