"""close(): never hangs, fails pending operations, leaves nothing behind."""

from __future__ import annotations

import asyncio
import time

import pytest

from aiogstwebrtc import ClosedError, PeerConnection
from tests.helpers import connected_pair


async def test_close_fails_pending_operations_quickly() -> None:
    pc = PeerConnection()
    await pc.create_data_channel("x")
    offers = [asyncio.ensure_future(pc.create_offer()) for _ in range(3)]
    stats = asyncio.ensure_future(pc.get_stats())
    waiting = asyncio.ensure_future(pc.wait_for_connection_state("connected", timeout=30))
    await asyncio.sleep(0)
    started = time.monotonic()
    await pc.close()
    assert time.monotonic() - started < 2
    results = await asyncio.wait_for(
        asyncio.gather(*offers, stats, waiting, return_exceptions=True), 2
    )
    assert isinstance(results[-1], ClosedError)
    # Operations either finished before close or failed with ClosedError; none hangs.
    for result in results:
        assert not isinstance(result, BaseException) or isinstance(result, ClosedError)


async def test_close_with_a_data_channel_backlog_returns_within_two_seconds() -> None:
    async with connected_pair() as pair:
        chunk = b"z" * 65536
        for _ in range(400):  # 25 MB queued without waiting: a real backlog in sctpenc
            pair.channel.send(chunk)
        assert pair.channel.buffered_amount > 1_000_000
        started = time.monotonic()
        await pair.offerer.close()
        assert time.monotonic() - started < 2
        assert pair.channel.ready_state == "closed"
        with pytest.raises(ClosedError):
            pair.channel.send(b"after close")


async def test_the_remote_side_sees_the_channel_close() -> None:
    async with connected_pair() as pair:
        closed = asyncio.Event()
        pair.remote.on("close", closed.set)
        await pair.channel.close()
        await asyncio.wait_for(closed.wait(), 10)
        assert pair.remote.ready_state == "closed"


async def test_context_manager_closes() -> None:
    async with PeerConnection() as pc:
        await pc.create_data_channel("x")
    assert pc.connection_state == "closed"
    with pytest.raises(ClosedError):
        await pc.create_offer()
