"""The receive cap against a real peer we did not write: aiortc floods an unread channel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiogstwebrtc import Configuration, DataChannel, PeerConnection, WebRTCError
from aiogstwebrtc.datachannel import DEFAULT_RECEIVE_CAP
from tests.aiortc_peer import aiortc_peer, they_offer, we_offer
from tests.leakcheck import rss_bytes

FLOOD = 200 * 1024 * 1024
#: What a working pair costs beyond the messages kept (aiortc's buffers, SCTP, allocator).
SLACK = 24 * 1024 * 1024


async def _flood(channel: Any, total: int, peak: list[int]) -> int:
    """aiortc sends up to ``total`` bytes as fast as backpressure allows, until closed."""
    chunk = b"\xab" * 16384
    ready = asyncio.Event()
    channel.bufferedAmountLowThreshold = 256 * 1024
    channel.on("bufferedamountlow", ready.set)
    channel.on("close", ready.set)
    sent = 0
    while sent < total and channel.readyState == "open":
        channel.send(chunk)
        sent += len(chunk)
        if channel.bufferedAmount > channel.bufferedAmountLowThreshold:
            ready.clear()
            await asyncio.wait_for(ready.wait(), 20)
            peak[0] = max(peak[0], rss_bytes())
    return sent


async def _opened(channel: Any) -> None:
    if channel.readyState != "open":
        opened = asyncio.Event()
        channel.on("open", opened.set)
        await asyncio.wait_for(opened.wait(), 10)


async def _read_until_error(channel: DataChannel, cap: int) -> int:
    """Read what was kept before the cap; return its size once the cap's error is raised."""
    kept = 0
    with pytest.raises(WebRTCError, match=f"{cap} bytes"):
        while True:
            kept += len(await asyncio.wait_for(channel.recv(), 10))
    return kept


async def test_a_200_mb_flood_into_an_unread_channel_closes_it_at_the_cap() -> None:
    ours, theirs = PeerConnection(), aiortc_peer()
    try:
        their_chat = theirs.createDataChannel("chat")
        their_flood = theirs.createDataChannel("flood")
        channels: dict[str, DataChannel] = {}
        both = asyncio.Event()

        def on_channel(channel: DataChannel) -> None:
            channels[channel.label] = channel
            if len(channels) == 2:
                both.set()

        ours.on("datachannel", on_channel)
        chat_received: asyncio.Queue[str | bytes] = asyncio.Queue()
        their_chat.on("message", chat_received.put_nowait)
        await they_offer(ours, theirs)
        await asyncio.wait_for(both.wait(), 15)
        unread, chat = channels["flood"], channels["chat"]
        await unread.wait_open(10)
        await chat.wait_open(10)
        await _opened(their_flood)
        await _opened(their_chat)
        errors: list[Exception] = []
        unread.on("error", errors.append)
        closed = asyncio.Event()
        unread.on("close", closed.set)

        baseline = rss_bytes()
        peak = [baseline]
        sent = await _flood(their_flood, FLOOD, peak)  # nobody reads ``unread``
        await asyncio.wait_for(closed.wait(), 10)
        peak[0] = max(peak[0], rss_bytes())

        growth = peak[0] - baseline
        assert growth < DEFAULT_RECEIVE_CAP + SLACK, f"RSS grew by {growth / 2**20:.0f} MiB"
        assert sent < FLOOD  # we closed the channel: the flood was stopped
        assert len(errors) == 1
        assert f"{DEFAULT_RECEIVE_CAP} bytes" in str(errors[0])  # the error names the cap
        assert unread.ready_state == "closed"
        kept = await _read_until_error(unread, DEFAULT_RECEIVE_CAP)  # what came, then the error
        assert 0 < kept <= DEFAULT_RECEIVE_CAP

        # The connection and its other channel carry on, both ways.
        chat.send("still here")
        assert await asyncio.wait_for(chat_received.get(), 10) == "still here"
        their_chat.send("and back")
        assert await asyncio.wait_for(chat.recv(), 10) == "and back"
        assert ours.connection_state == "connected"
    finally:
        await ours.close()
        await theirs.close()


async def test_the_cap_is_set_per_channel_and_per_connection() -> None:
    small = 1024 * 1024
    ours = PeerConnection(Configuration(data_channel_receive_cap=2 * small))
    theirs = aiortc_peer()
    try:
        arrived: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        theirs.on("datachannel", lambda ch: ch.label == "capped" and arrived.set_result(ch))
        mine = await ours.create_data_channel("capped", receive_cap=small)
        assert mine.receive_cap == small  # create_data_channel's option wins
        default = await ours.create_data_channel("default")
        assert default.receive_cap == 2 * small  # the Configuration's
        await we_offer(ours, theirs, trickle=False)
        await mine.wait_open(15)
        flood = await asyncio.wait_for(arrived, 10)
        await _opened(flood)
        errors: list[Exception] = []
        mine.on("error", errors.append)
        await _flood(flood, 8 * small, [0])  # into our unread channel
        kept = await _read_until_error(mine, small)
        assert kept <= small
        assert len(errors) == 1 and f"{small} bytes" in str(errors[0])
    finally:
        await ours.close()
        await theirs.close()
