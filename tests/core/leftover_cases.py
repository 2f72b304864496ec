"""Tests that leave things behind, run by test_leftovers.py (the suite does not collect them)."""

from __future__ import annotations

import asyncio

from aiogstwebrtc import PeerConnection

_forgotten: list[asyncio.Task[None]] = []


async def test_leaves_a_peer_open() -> None:
    pc = PeerConnection()
    await pc.create_data_channel("x")


async def test_leaves_a_task_pending() -> None:
    _forgotten.append(asyncio.ensure_future(asyncio.sleep(3600)))


def test_leaves_a_peer_open_on_its_own_loop() -> None:
    async def start() -> None:
        await PeerConnection().create_data_channel("x")

    asyncio.run(start())


async def test_closes_everything() -> None:
    async with PeerConnection() as pc:
        await pc.create_data_channel("x")
    task = asyncio.ensure_future(asyncio.sleep(3600))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_fails_after_leaking() -> None:
    pc = PeerConnection()
    await pc.create_data_channel("x")
    raise AssertionError("the test's own failure")
