"""The GLib thread: calls run there, results and errors come back, it stops when unused."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aiogstwebrtc.glibloop import ThreadedGLibLoop, acquire_glib_loop, gi_events_context
from tests.conftest import LOOP_KIND


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
        glib.release()


async def test_errors_raised_on_the_glib_thread_reach_the_caller() -> None:
    glib = acquire_glib_loop(asyncio.get_running_loop())
    try:

        def fail() -> None:
            raise KeyError("boom")

        with pytest.raises(KeyError, match="boom"):
            await glib.call(fail)
        assert await glib.call(lambda: "still works") == "still works"
    finally:
        glib.release()


def test_call_sync_from_a_plain_thread_and_thread_stops_when_released() -> None:
    before = {t.name for t in threading.enumerate()}
    glib = ThreadedGLibLoop.acquire()
    second = ThreadedGLibLoop.acquire()
    assert glib is second
    assert glib.call_sync(lambda: threading.current_thread().name) == "aiogstwebrtc-glib"
    glib.release()
    assert "aiogstwebrtc-glib" in {t.name for t in threading.enumerate()}
    second.release()
    assert {t.name for t in threading.enumerate()} == before
