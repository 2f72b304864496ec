"""A start that fails or is cancelled leaves nothing held: no exit-registry entry, no SCTP id.

The failures are real: a build step raises inside the GLib thread's build, or the start is
stalled with webrtcbin PLAYING (everything taken) and the caller gives up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aiogstwebrtc import ClosedError, PeerConnection, WebRTCError, exits, pipeline
from aiogstwebrtc.glibloop import ThreadedGLibLoop
from aiogstwebrtc.gst import SctpAssociationIds
from tests.helpers import connected_pair


def _glib_users() -> int:
    instance = ThreadedGLibLoop._instance
    return 0 if instance is None else instance._users


def _held() -> tuple[int, frozenset[int], int]:
    """What started peers hold: SCTP association ids, and users of the GLib thread."""
    return SctpAssociationIds.live(), frozenset(SctpAssociationIds._in_use), _glib_users()


@pytest.fixture
def stalled_start(monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.Event]:
    """Starts reach PLAYING, then never finish: set when a start is there."""
    playing = asyncio.Event()
    real_start = pipeline.PeerPipeline.start

    async def start(self: pipeline.PeerPipeline, *args: Any) -> None:
        await real_start(self, *args)
        playing.set()
        await asyncio.Event().wait()  # a start that hangs with everything taken

    monkeypatch.setattr(pipeline.PeerPipeline, "start", start)
    yield playing


async def _assert_released(pc: PeerConnection, before: tuple[int, frozenset[int], int]) -> None:
    assert pc not in exits.LIVE
    assert _held() == before  # the SCTP id is free again, the GLib thread given back
    assert pc.connection_state == "closed"
    with pytest.raises(ClosedError):
        await pc.create_offer()
    await pc.close()  # still fine to call


async def _a_new_pair_connects() -> None:
    async with connected_pair() as pair:
        pair.channel.send("after")
        assert await asyncio.wait_for(pair.remote.recv(), 10) == "after"


async def test_a_build_step_that_raises_releases_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _held()
    real: Callable[..., Any] = pipeline.configure_ice_agent

    def broken(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)  # webrtcbin made and in the pipeline: there is something to undo
        raise WebRTCError("injected build failure")

    monkeypatch.setattr(pipeline, "configure_ice_agent", broken)
    pc = PeerConnection()
    with pytest.raises(WebRTCError, match="injected build failure"):
        await pc.create_offer()
    await _assert_released(pc, before)
    monkeypatch.undo()
    await _a_new_pair_connects()


async def test_cancelling_the_first_call_mid_start_releases_everything(
    stalled_start: asyncio.Event,
) -> None:
    before = _held()
    pc = PeerConnection()
    offer = asyncio.ensure_future(pc.create_offer())
    await asyncio.wait_for(stalled_start.wait(), 10)
    assert pc in exits.LIVE and SctpAssociationIds.live() == before[0] + 1  # all taken
    offer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await offer  # the cancellation propagates, after the release
    await _assert_released(pc, before)


async def test_a_timeout_around_async_with_releases_everything(
    stalled_start: asyncio.Event,
) -> None:
    before = _held()
    pc = PeerConnection()

    async def session() -> None:
        async with pc:
            raise AssertionError("the start never finishes")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(session(), 0.5)
    assert stalled_start.is_set()
    await _assert_released(pc, before)


async def test_one_cancelled_caller_does_not_cancel_the_start_for_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = asyncio.Event()
    real_start = pipeline.PeerPipeline.start

    async def start(self: pipeline.PeerPipeline, *args: Any) -> None:
        await real_start(self, *args)
        await release.wait()

    monkeypatch.setattr(pipeline.PeerPipeline, "start", start)
    pc = PeerConnection()
    try:
        first = asyncio.ensure_future(pc.create_data_channel("a"))
        second = asyncio.ensure_future(pc.create_data_channel("b"))
        await asyncio.sleep(0.2)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        release.set()
        channel = await asyncio.wait_for(second, 10)
        assert channel.label == "b" and pc in exits.LIVE
    finally:
        await pc.close()


async def test_close_cancelled_while_the_start_stalls_still_releases(
    stalled_start: asyncio.Event,
) -> None:
    before = _held()
    pc = PeerConnection()
    offer = asyncio.ensure_future(pc.create_offer())
    await asyncio.wait_for(stalled_start.wait(), 10)
    closing = asyncio.ensure_future(pc.close())
    await asyncio.sleep(0.1)  # close() is waiting for the start
    # What asyncio.run does at the end: cancel every task. The close task must not swallow it.
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results), results
    assert closing.cancelled() and offer.cancelled()
    await _assert_released(pc, before)
