"""``hop``: one asyncio → GLib thread → asyncio round trip.

Ours is ``GLibLoop.call`` (what every ``PeerConnection`` operation pays at least once).
The baseline is the raw floor with no library code: a thread of our own running a
``GLib.MainLoop`` on its own context, an idle source attached to it whose callback calls
``loop.call_soon_threadsafe(future.set_result, None)``. Blocks of hops alternate; each hop is
timed on its own and the median reported. The public ``PeerConnection.run_in_glib`` is
measured as a detail.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from .common import Result, Settings, median, order_for_round

__all__ = ["NAMES", "run"]

NAMES = ("hop",)


class RawGLibThread:
    """A bare GLib main loop on its own thread and context."""

    def __init__(self) -> None:
        from aiogstwebrtc.gst import GLib

        self.GLib = GLib
        self.context = GLib.MainContext.new()
        self.main_loop = GLib.MainLoop.new(self.context, False)
        self.thread = threading.Thread(target=self._run, name="bench-raw-glib", daemon=True)
        self.started = threading.Event()

    def _run(self) -> None:
        self.context.push_thread_default()
        source = self.GLib.idle_source_new()
        source.set_callback(lambda *_: self.started.set())
        source.attach(self.context)
        try:
            self.main_loop.run()
        finally:
            self.context.pop_thread_default()

    def start(self) -> None:
        self.thread.start()
        self.started.wait(10)

    def stop(self) -> None:
        source = self.GLib.idle_source_new()
        source.set_callback(lambda *_: self.main_loop.quit())
        source.attach(self.context)
        self.thread.join(10)

    async def hop(self) -> None:
        """The floor: idle source on the GLib thread, call_soon_threadsafe back."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def callback(*_: Any) -> bool:
            loop.call_soon_threadsafe(future.set_result, None)
            return False

        source = self.GLib.idle_source_new()
        source.set_callback(callback)
        source.attach(self.context)
        await future


def _noop() -> None:
    return None


async def _timed_block(hop: Any, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await hop()
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


async def _run(settings: Settings) -> Result:
    from aiogstwebrtc import PeerConnection
    from aiogstwebrtc.glibloop import acquire_glib_loop

    loop = asyncio.get_running_loop()
    glib = acquire_glib_loop(loop)
    raw = RawGLibThread()
    raw.start()
    rounds = settings.n_rounds(8, 2)
    count = settings.pick(2000, 500)

    async def ours_hop() -> None:
        await glib.call(_noop)

    try:
        await _timed_block(ours_hop, 200)
        await _timed_block(raw.hop, 200)
        ours: list[float] = []
        floor: list[float] = []
        for index in range(rounds):
            for side in order_for_round(index):
                if side == "ours":
                    ours.extend(await _timed_block(ours_hop, count))
                else:
                    floor.extend(await _timed_block(raw.hop, count))
        async with PeerConnection() as pc:

            async def public_hop() -> None:
                await pc.run_in_glib(lambda _p, _w: None)

            public = await _timed_block(public_hop, count)
    finally:
        raw.stop()
        glib.release()
    return Result(
        "hop",
        median(ours),
        median(floor),
        "µs",
        "lower",
        "baseline",
        ours_samples=[round(x, 2) for x in ours],
        other_samples=[round(x, 2) for x in floor],
        details={
            "hops_per_side": len(ours),
            "run_in_glib_us": round(median(public), 2),
            "ours_p90_us": round(sorted(ours)[int(0.9 * len(ours))], 2),
            "baseline_p90_us": round(sorted(floor)[int(0.9 * len(floor))], 2),
        },
        description="asyncio -> GLib thread -> asyncio: GLibLoop.call vs idle source + "
        "call_soon_threadsafe",
    )


def run(settings: Settings, names: set[str]) -> list[Result]:
    """Run the requested benchmarks of this family."""
    return [asyncio.run(_run(settings))] if "hop" in names else []
