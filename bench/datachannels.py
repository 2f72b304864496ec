"""Data channel benchmarks: one-way throughput, small-message rate, 32-byte round trips.

One connected pair per side serves every round; rounds alternate between the sides. Senders
apply backpressure as users would: ours calls ``await channel.drain()`` after each send (it
returns at once below the low threshold), aiortc's sender waits for ``bufferedamountlow``
whenever ``bufferedAmount`` is above the same threshold (1 MiB). The clock stops when the
receiving side's message handler has seen every byte.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .common import Result, Settings, median, order_for_round
from .pairs import OursPair, TheirPair, open_aiortc, open_ours

__all__ = ["NAMES", "run"]

NAMES = ("throughput_1k", "throughput_16k", "throughput_64k", "message_rate", "rtt_32b")
THRESHOLD = 1 << 20
TRANSFER_TIMEOUT = 120.0
MESSAGE_RATE_SIZE = 32


# --- one-way transfers ------------------------------------------------------------------------


def _byte_counter(
    expected: int,
) -> tuple[Callable[[str | bytes], None], asyncio.Future[None]]:
    """A message handler counting bytes, and a future done once ``expected`` arrived."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    received = 0

    def on_message(message: str | bytes) -> None:
        nonlocal received
        received += len(message)
        if received >= expected and not done.done():
            done.set_result(None)

    return on_message, done


async def ours_transfer(pair: OursPair, size: int, count: int) -> float:
    """Send ``count`` messages of ``size`` bytes one way; seconds until all arrived."""
    on_message, done = _byte_counter(size * count)
    payload = b"\xab" * size
    channel = pair.channel
    channel.buffered_amount_low_threshold = THRESHOLD
    pair.remote.on("message", on_message)
    try:
        start = time.perf_counter()
        for _ in range(count):
            channel.send(payload)
            await channel.drain()
        await asyncio.wait_for(done, TRANSFER_TIMEOUT)
        return time.perf_counter() - start
    finally:
        pair.remote.off("message", on_message)


async def aiortc_drain(channel: Any) -> None:
    """Wait while aiortc's ``bufferedAmount`` is above its low threshold."""
    while channel.bufferedAmount > channel.bufferedAmountLowThreshold:
        low: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake(low: asyncio.Future[None] = low) -> None:
            if not low.done():
                low.set_result(None)

        channel.once("bufferedamountlow", wake)
        await low


async def aiortc_transfer(pair: TheirPair, size: int, count: int) -> float:
    """The same transfer between two aiortc peers."""
    on_message, done = _byte_counter(size * count)
    payload = b"\xab" * size
    channel = pair.channel
    channel.bufferedAmountLowThreshold = THRESHOLD
    pair.remote.on("message", on_message)
    try:
        start = time.perf_counter()
        for _ in range(count):
            channel.send(payload)
            if channel.bufferedAmount > THRESHOLD:
                await aiortc_drain(channel)
        await asyncio.wait_for(done, TRANSFER_TIMEOUT)
        return time.perf_counter() - start
    finally:
        pair.remote.remove_listener("message", on_message)


# --- round trips --------------------------------------------------------------------------------


async def ours_rtt(pair: OursPair, count: int) -> list[float]:
    """``count`` ping-pongs of a 32-byte message; each round trip in milliseconds."""
    remote = pair.remote

    def echo(message: str | bytes) -> None:
        remote.send(message)

    remote.on("message", echo)
    payload = b"p" * 32
    samples = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            pair.channel.send(payload)
            await asyncio.wait_for(pair.channel.recv(), 10)
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        remote.off("message", echo)
    return samples


async def aiortc_rtt(pair: TheirPair, count: int) -> list[float]:
    """The same ping-pong between two aiortc peers."""
    remote = pair.remote
    replies: asyncio.Queue[Any] = asyncio.Queue()

    def echo(message: str | bytes) -> None:
        remote.send(message)

    pair.remote.on("message", echo)
    pair.channel.on("message", replies.put_nowait)
    payload = b"p" * 32
    samples = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            pair.channel.send(payload)
            await asyncio.wait_for(replies.get(), 10)
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        pair.remote.remove_listener("message", echo)
        pair.channel.remove_listener("message", replies.put_nowait)
    return samples


# --- the family ---------------------------------------------------------------------------------


async def _alternate(
    rounds: int,
    ours: Callable[[], Awaitable[float | list[float]]],
    theirs: Callable[[], Awaitable[float | list[float]]],
) -> tuple[list[float], list[float]]:
    ours_samples: list[float] = []
    their_samples: list[float] = []
    for index in range(rounds):
        for side in order_for_round(index):
            value = await (ours() if side == "ours" else theirs())
            target = ours_samples if side == "ours" else their_samples
            if isinstance(value, list):
                target.extend(value)
            else:
                target.append(value)
    return ours_samples, their_samples


async def _run(settings: Settings, names: set[str]) -> list[Result]:
    ours_pair = await open_ours()
    their_pair = await open_aiortc()
    results = []
    try:
        rounds = settings.n_rounds(4, 1)
        # warm both paths (first messages, SCTP windows opening)
        await ours_transfer(ours_pair, 16384, 64)
        await aiortc_transfer(their_pair, 16384, 64)
        sizes = {"throughput_1k": 1024, "throughput_16k": 16384, "throughput_64k": 65536}
        totals = {
            "throughput_1k": settings.pick(2 << 20, 1 << 19),
            "throughput_16k": settings.pick(8 << 20, 2 << 20),
            "throughput_64k": settings.pick(16 << 20, 4 << 20),
        }
        for name, size in sizes.items():
            if name not in names:
                continue
            count = totals[name] // size
            ours_s, their_s = await _alternate(
                rounds,
                functools.partial(ours_transfer, ours_pair, size, count),
                functools.partial(aiortc_transfer, their_pair, size, count),
            )
            mb = size * count / 1e6
            results.append(
                Result(
                    name,
                    median([mb / s for s in ours_s]),
                    median([mb / s for s in their_s]),
                    "MB/s",
                    "higher",
                    ours_samples=[mb / s for s in ours_s],
                    other_samples=[mb / s for s in their_s],
                    details={"message_size": size, "bytes_per_round": size * count},
                    description=f"one-way throughput, {size}-byte messages, drain() backpressure",
                )
            )
        if "message_rate" in names:
            count = settings.pick(4_000, 1_000)
            ours_s, their_s = await _alternate(
                rounds,
                lambda: ours_transfer(ours_pair, MESSAGE_RATE_SIZE, count),
                lambda: aiortc_transfer(their_pair, MESSAGE_RATE_SIZE, count),
            )
            results.append(
                Result(
                    "message_rate",
                    median([count / s for s in ours_s]),
                    median([count / s for s in their_s]),
                    "msg/s",
                    "higher",
                    ours_samples=[count / s for s in ours_s],
                    other_samples=[count / s for s in their_s],
                    details={"message_size": MESSAGE_RATE_SIZE, "messages_per_round": count},
                    description=f"{MESSAGE_RATE_SIZE}-byte messages per second, one way",
                )
            )
        if "rtt_32b" in names:
            count = settings.pick(200, 50)
            ours_s, their_s = await _alternate(
                rounds,
                lambda: ours_rtt(ours_pair, count),
                lambda: aiortc_rtt(their_pair, count),
            )
            results.append(
                Result(
                    "rtt_32b",
                    median(ours_s),
                    median(their_s),
                    "ms",
                    "lower",
                    ours_samples=[],
                    other_samples=[],
                    details={
                        "pings": len(ours_s),
                        "ours_p90_ms": sorted(ours_s)[int(0.9 * len(ours_s))],
                        "aiortc_p90_ms": sorted(their_s)[int(0.9 * len(their_s))],
                    },
                    description="ping-pong of a 32-byte message, echoed by a message handler",
                )
            )
    finally:
        await ours_pair.close()
        await their_pair.close()
    return results


def run(settings: Settings, names: set[str]) -> list[Result]:
    """Run the requested benchmarks of this family."""
    return asyncio.run(_run(settings, names))
