"""Many peers in one process: all connect, and nothing is left behind after closing."""

from __future__ import annotations

import asyncio
import gc

import pytest

from tests.helpers import connected_pair
from tests.leakcheck import fd_count, python_threads, thread_count

pytestmark = pytest.mark.slow


async def _one_pair(number: int) -> None:
    async with connected_pair(timeout=30) as pair:
        pair.channel.send(f"hello {number}")
        assert await asyncio.wait_for(pair.remote.recv(), 30) == f"hello {number}"


async def test_fifty_pairs_connect_at_once() -> None:
    results = await asyncio.gather(*(_one_pair(n) for n in range(50)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []


async def test_two_hundred_pairs_leave_no_thread_or_fd_behind() -> None:
    await _one_pair(-1)  # warm-up: plugin registry, DTLS certificate, GStreamer's own pools
    gc.collect()
    threads, fds, names = thread_count(), fd_count(), sorted(python_threads())
    for batch in range(20):
        await asyncio.gather(*(_one_pair(batch * 10 + n) for n in range(10)))
    gc.collect()
    assert sorted(python_threads()) == names
    assert thread_count() <= threads
    assert fd_count() <= fds
