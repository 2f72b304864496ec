"""``wrapper_overhead``: our ``DataChannel`` against the same webrtcbin pair driven bare.

One connected pair of ours carries two channels: the library's (``create_data_channel``) and
a negotiated one made on both sides with ``create-data-channel`` and used only through
PyGObject calls — ``send_data_full``, the ``buffered-amount`` property, the
``on-buffered-amount-low`` and ``on-message-data`` signals — which the library never wraps.
Rounds alternate between them with the same messages, threshold and completion rule. The
bare receiver counts bytes on GStreamer's thread (reading each message's bytes, as a
consumer must) and crosses to asyncio once at the end: the floor any wrapper sits on.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .common import Result, Settings, median, order_for_round
from .datachannels import THRESHOLD, TRANSFER_TIMEOUT, ours_transfer
from .pairs import OursPair, open_ours

__all__ = ["NAMES", "run"]

NAMES = ("wrapper_overhead",)
RAW_ID = 10
MESSAGE_SIZE = 1024


class BareChannel:
    """Both ends of the negotiated channel, with bare signal handlers."""

    def __init__(self, pair: OursPair, loop: asyncio.AbstractEventLoop) -> None:
        self.sender = pair.raw["raw_offerer"]
        self.receiver = pair.raw["raw_answerer"]
        self.loop = loop
        self.expected = 0
        self.received = 0
        self.done: asyncio.Future[None] | None = None
        self.low: asyncio.Future[None] | None = None
        self.handlers: list[tuple[Any, int]] = []

    def connect(self) -> None:
        """GLib thread: hook the two signals and set the low threshold."""
        self.sender.set_property("buffered-amount-low-threshold", THRESHOLD)
        self.handlers = [
            (self.receiver, self.receiver.connect("on-message-data", self._on_data)),
            (self.sender, self.sender.connect("on-buffered-amount-low", self._on_low)),
        ]

    def disconnect(self) -> None:
        """GLib thread: unhook before the pipelines stop."""
        for gst_object, handler_id in self.handlers:
            gst_object.disconnect(handler_id)
        self.handlers.clear()

    def _on_data(self, _channel: Any, data: Any) -> None:  # GStreamer thread
        self.received += len(data.get_data())
        if self.received >= self.expected and self.done is not None:
            done, self.done = self.done, None
            self.loop.call_soon_threadsafe(_resolve, done)

    def _on_low(self, _channel: Any) -> None:  # GStreamer thread
        low = self.low
        if low is not None:
            self.loop.call_soon_threadsafe(_resolve, low)

    async def transfer(self, size: int, count: int) -> float:
        """Send ``count`` messages of ``size`` bytes; seconds until all arrived."""
        from aiogstwebrtc.gst import GLib

        self.received = 0
        self.expected = size * count
        done: asyncio.Future[None] = self.loop.create_future()
        self.done = done
        payload = b"\xab" * size
        sender = self.sender
        start = time.perf_counter()
        for _ in range(count):
            sender.send_data_full(GLib.Bytes.new(payload))
            while sender.get_property("buffered-amount") > THRESHOLD:
                low: asyncio.Future[None] = self.loop.create_future()
                self.low = low
                if sender.get_property("buffered-amount") <= THRESHOLD:
                    break
                await low
        await asyncio.wait_for(done, TRANSFER_TIMEOUT)
        return time.perf_counter() - start


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _run(settings: Settings) -> Result:
    pair = await open_ours(negotiated_raw_id=RAW_ID)
    bare = BareChannel(pair, asyncio.get_running_loop())
    await pair.offerer.run_in_glib(lambda _p, _w: bare.connect())
    try:
        rounds = settings.n_rounds(6, 1)
        count = settings.pick(8000, 2000)
        await ours_transfer(pair, MESSAGE_SIZE, 500)  # warm-up of both paths
        await bare.transfer(MESSAGE_SIZE, 500)
        ours: list[float] = []
        baseline: list[float] = []
        for index in range(rounds):
            for side in order_for_round(index):
                if side == "ours":
                    ours.append(await ours_transfer(pair, MESSAGE_SIZE, count))
                else:
                    baseline.append(await bare.transfer(MESSAGE_SIZE, count))
    finally:
        await pair.offerer.run_in_glib(lambda _p, _w: bare.disconnect())
        await pair.close()
    mb = MESSAGE_SIZE * count / 1e6
    return Result(
        "wrapper_overhead",
        median([mb / s for s in ours]),
        median([mb / s for s in baseline]),
        "MB/s",
        "higher",
        "baseline",
        ours_samples=[mb / s for s in ours],
        other_samples=[mb / s for s in baseline],
        details={"message_size": MESSAGE_SIZE, "messages_per_round": count},
        description="throughput through DataChannel vs bare PyGObject on the same pair",
    )


def run(settings: Settings, names: set[str]) -> list[Result]:
    """Run the requested benchmarks of this family."""
    return [asyncio.run(_run(settings))] if "wrapper_overhead" in names else []
