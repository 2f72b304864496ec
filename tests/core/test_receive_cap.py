"""The data channel receive cap: what it counts and how it is set (floods: tests/interop)."""

from __future__ import annotations

import asyncio

import pytest

from aiogstwebrtc import ClosedError, Configuration, DataChannel, PeerConnection
from tests.helpers import connected_pair


async def _send(channel: DataChannel, total: int) -> int:
    """Send ``total`` bytes as fast as backpressure allows."""
    chunk = b"\xab" * 65536
    channel.buffered_amount_low_threshold = 256 * 1024
    sent = 0
    while sent < total:
        channel.send(chunk)
        sent += len(chunk)
        await channel.drain(timeout=20)
    return sent


async def test_a_reader_is_never_cut_off() -> None:
    """The cap counts what waits unread, not what went through: 6x the cap is fine."""
    cap = 4 * 1024 * 1024
    async with connected_pair(receive_cap=cap) as pair:
        received = 0
        done = asyncio.Event()

        def count(message: str | bytes) -> None:
            nonlocal received
            received += len(message)
            if received >= 6 * cap:
                done.set()

        pair.channel.on("message", count)
        errors: list[Exception] = []
        pair.channel.on("error", errors.append)
        sent = await _send(pair.remote, 6 * cap)
        await asyncio.wait_for(done.wait(), 30)
        assert received == sent == 6 * cap
        assert errors == [] and pair.channel.ready_state == "open"


async def test_what_recv_takes_no_longer_counts() -> None:
    cap = 1024 * 1024
    async with connected_pair(receive_cap=cap) as pair:
        for _ in range(4):  # 4x the cap in total, never more than a quarter of it unread
            for _ in range(4):
                pair.remote.send(b"\x00" * 65536)
            for _ in range(4):
                assert len(await asyncio.wait_for(pair.channel.recv(), 10)) == 65536
        assert pair.channel.ready_state == "open"
        assert pair.channel._unread_bytes == 0


def test_a_cap_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="data_channel_receive_cap"):
        Configuration(data_channel_receive_cap=0)
    assert Configuration().data_channel_receive_cap == 16 * 1024 * 1024


async def test_create_data_channel_refuses_a_cap_that_is_not_positive() -> None:
    pc = PeerConnection()
    try:
        with pytest.raises(ValueError, match="receive_cap"):
            await pc.create_data_channel("bad", receive_cap=-1)
    finally:
        await pc.close()
    with pytest.raises(ClosedError):
        await pc.create_data_channel("late")
