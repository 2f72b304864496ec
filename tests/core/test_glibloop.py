"""The GLib thread: calls run there, results and errors come back, it stops when unused."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aiogstwebrtc.glibloop import (
    ThreadedGLibLoop,
    acquire_glib_loop,
    deliver,
    gi_events_context,
    post,
)
from tests.conftest import LOOP_KIND, new_event_loop


async def test_call_runs_on_the_glib_thread_and_returns_its_result() -> None:
    glib = acquire_glib_loop(asyncio.get_running_loop())
    try:
        name = await glib.call(lambda: threading.current_thread().name)
        if LOOP_KIND == "gi-events":
            assert name == threading.current_thread().name  # one thread: asyncio is GLib
            assert gi_events_context(asyncio.get_running_loop()) is not None
        else:
            assert name == "aiogstwebrtc-glib"
        assert await glib.call(lambda a, b: a + b, 2, 3) == 5
    finally:
        if glib.release():
            assert await glib.wait_stopped(5)


async def test_errors_raised_on_the_glib_thread_reach_the_caller() -> None:
    glib = acquire_glib_loop(asyncio.get_running_loop())
    try:

        def fail() -> None:
            raise KeyError("boom")

        with pytest.raises(KeyError, match="boom"):
            await glib.call(fail)
        assert await glib.call(lambda: "still works") == "still works"
    finally:
        if glib.release():
            assert await glib.wait_stopped(5)


def test_call_sync_from_a_plain_thread_and_thread_stops_when_released() -> None:
    for thread in threading.enumerate():  # an earlier test's GLib thread may still be ending
        if thread.name == "aiogstwebrtc-glib":
            thread.join(5)
    before = {t.name for t in threading.enumerate()}
    assert "aiogstwebrtc-glib" not in before
    glib = ThreadedGLibLoop.acquire()
    second = ThreadedGLibLoop.acquire()
    assert glib is second
    assert glib.call_sync(lambda: threading.current_thread().name) == "aiogstwebrtc-glib"
    glib.release()
    assert "aiogstwebrtc-glib" in {t.name for t in threading.enumerate()}
    assert second.release()  # the last user: the loop quits, nobody blocks on the thread
    second._thread.join(5)
    assert {t.name for t in threading.enumerate()} == before


async def test_the_last_release_waits_for_the_thread_without_blocking_the_loop() -> None:
    if LOOP_KIND == "gi-events":
        pytest.skip("one thread under gi.events: there is no GLib thread to end")
    glib = acquire_glib_loop(asyncio.get_running_loop())
    assert glib.release()
    assert await glib.wait_stopped(5)
    assert "aiogstwebrtc-glib" not in {t.name for t in threading.enumerate()}


async def test_a_stuck_teardown_never_stalls_the_event_loop_and_new_peers_start() -> None:
    """close() gives up on a GLib thread that hangs, without a join on the asyncio thread."""
    if LOOP_KIND == "gi-events":
        pytest.skip("under gi.events the GLib thread is the asyncio thread: nothing to abandon")
    from aiogstwebrtc import PeerConnection
    from tests.helpers import connected_pair

    stalls: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = loop.time()
            stalls.append(now - last - 0.005)
            last = now

    pc = PeerConnection()
    await pc.create_data_channel("stuck")
    glib = pc._pipeline.glib
    assert glib is not None
    ticking = asyncio.ensure_future(ticker())
    try:
        # The GLib thread hangs for 7 s: teardown cannot run within close()'s 5 s bound.
        import time

        glib.call_soon(time.sleep, 7)
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        await pc.close()
        assert asyncio.get_running_loop().time() - started < 7
        assert pc.connection_state == "closed"
        # a new peer gets a fresh GLib thread and connects while the old one hangs
        async with connected_pair() as pair:
            pair.channel.send("after a stuck teardown")
            assert await asyncio.wait_for(pair.remote.recv(), 10) == "after a stuck teardown"
    finally:
        stop.set()
        await ticking
    assert max(stalls) < 0.05, f"the event loop stalled {max(stalls) * 1000:.0f} ms"


async def test_post_runs_the_call_on_the_asyncio_thread_from_any_thread() -> None:
    loop = asyncio.get_running_loop()
    ran: asyncio.Future[str] = loop.create_future()
    posted: list[bool] = []

    def from_elsewhere() -> None:
        posted.append(post(loop, lambda: ran.set_result(threading.current_thread().name)))

    thread = threading.Thread(target=from_elsewhere, name="a-gstreamer-thread")
    thread.start()
    thread.join(5)
    assert await asyncio.wait_for(ran, 5) == threading.current_thread().name
    assert posted == [True]


def test_post_to_a_closed_loop_drops_the_call_without_raising() -> None:
    loop = new_event_loop()
    future = loop.create_future()
    loop.close()
    called: list[int] = []
    assert post(loop, called.append, 1) is False
    deliver(loop, future, "late")  # the promise path: no error either
    assert called == [] and not future.done()
