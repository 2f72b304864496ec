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
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import native
from .common import Result, Settings, median, rotation
from .native import PeerProcess
from .pairs import OursPair, TheirPair, open_aiortc, open_ours

__all__ = ["NAMES", "run"]

NAMES = ("throughput_1k", "throughput_16k", "throughput_64k", "message_rate", "rtt_32b")
THRESHOLD = 1 << 20
TRANSFER_TIMEOUT = 120.0
STALL_TIMEOUT = 10.0
MESSAGE_RATE_SIZE = 32


# --- one-way transfers ------------------------------------------------------------------------


class TransferCounter:
    """Counts the messages and bytes a receiver's handler saw.

    ``wait()`` returns once ``count`` messages arrived, or when none arrived for
    ``STALL_TIMEOUT`` seconds (a transfer that lost messages); ``check()`` then raises unless
    both the message and the byte count match what was sent exactly.
    """

    def __init__(self, size: int, count: int) -> None:
        self.expected_messages, self.expected_bytes = count, size * count
        self.messages = 0
        self.bytes = 0
        self.changed = asyncio.Event()

    def on_message(self, message: str | bytes) -> None:
        self.messages += 1
        self.bytes += len(message)
        if self.messages >= self.expected_messages:
            self.changed.set()

    async def wait(self) -> None:
        while self.messages < self.expected_messages:
            before = self.messages
            try:
                await asyncio.wait_for(self.changed.wait(), STALL_TIMEOUT)
            except TimeoutError:
                if self.messages == before:
                    break
            self.changed.clear()
        self.check()

    def check(self) -> None:
        _last[:] = [self]
        if self.messages != self.expected_messages or self.bytes != self.expected_bytes:
            raise TransferLost(
                f"received {self.messages} messages / {self.bytes} bytes, sent "
                f"{self.expected_messages} / {self.expected_bytes}"
            )


class TransferLost(RuntimeError):
    """A transfer's receiver did not get exactly what was sent."""


#: the counter of the last transfer that completed in this process (for the details file)
_last: list[TransferCounter] = []


async def ours_transfer(pair: OursPair, size: int, count: int) -> float:
    """Send ``count`` messages of ``size`` bytes one way; seconds until all arrived."""
    counter = TransferCounter(size, count)
    payload = b"\xab" * size
    channel = pair.channel
    channel.buffered_amount_low_threshold = THRESHOLD
    pair.remote.on("message", counter.on_message)
    try:
        start = time.perf_counter()
        for _ in range(count):
            channel.send(payload)
            await channel.drain()
        await asyncio.wait_for(counter.wait(), TRANSFER_TIMEOUT)
        return time.perf_counter() - start
    finally:
        pair.remote.off("message", counter.on_message)


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
    counter = TransferCounter(size, count)
    payload = b"\xab" * size
    channel = pair.channel
    channel.bufferedAmountLowThreshold = THRESHOLD
    pair.remote.on("message", counter.on_message)
    try:
        start = time.perf_counter()
        for _ in range(count):
            channel.send(payload)
            if channel.bufferedAmount > THRESHOLD:
                await aiortc_drain(channel)
        await asyncio.wait_for(counter.wait(), TRANSFER_TIMEOUT)
        return time.perf_counter() - start
    finally:
        pair.remote.remove_listener("message", counter.on_message)


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

Measure = Callable[[], Awaitable[float | list[float]]]


class Sides:
    """Ours, aiortc and each native peer's driver, measured in rotation round by round.

    A side's samples go to ``samples[side]``; a side that fails keeps its error in
    ``errors[side]`` and is skipped for the rest of that benchmark. Every transfer of every
    side is checked message for message and byte for byte (``verified``).
    """

    def __init__(self, ours: OursPair, theirs: TheirPair, peers: dict[str, PeerProcess]) -> None:
        self.ours, self.theirs, self.peers = ours, theirs, peers
        self.verified: dict[str, list[dict[str, Any]]] = {}

    @property
    def names(self) -> list[str]:
        return ["ours", "aiortc", *self.peers]

    async def run(
        self, name: str, rounds: int, local: dict[str, Measure], request: dict[str, Any]
    ) -> tuple[dict[str, list[float]], dict[str, str]]:
        samples: dict[str, list[float]] = {side: [] for side in self.names}
        errors: dict[str, str] = {}
        for index in range(rounds):
            for side in rotation(index, self.names):
                if side in errors:
                    continue
                try:
                    if side in local:
                        value = await local[side]()
                    else:
                        value = self._peer(side, request)
                except Exception as exc:  # a lost transfer fails its side loudly
                    errors[side] = f"{type(exc).__name__}: {exc}"
                    print(f"bench: {name} {side} FAILED: {errors[side]}", flush=True)
                    continue
                if isinstance(value, list):
                    samples[side].extend(value)
                else:
                    samples[side].append(value)
                if request["cmd"] == "transfer" and side in local:
                    counter = _last[0]
                    self.verified.setdefault(name, []).append(
                        {
                            "side": side,
                            "verified": True,
                            "messages": counter.messages,
                            "bytes": counter.bytes,
                        }
                    )
        return samples, errors

    def _peer(self, side: str, request: dict[str, Any]) -> float | list[float]:
        answer = self.peers[side].request(timeout=TRANSFER_TIMEOUT + 30, **request)
        if not answer.get("ok"):
            raise RuntimeError(answer.get("error", "no answer"))
        if request["cmd"] == "rtt":
            samples: list[float] = answer["samples_ms"]
            return samples
        name = request["name"]
        self.verified.setdefault(name, []).append(
            {
                "side": side,
                "verified": answer["verified"],
                "messages": answer["messages"],
                "bytes": answer["bytes"],
            }
        )
        if not answer["verified"]:
            raise TransferLost(
                f"received {answer['messages']} messages / {answer['bytes']} bytes, sent "
                f"{answer['expected_messages']} / {answer['expected_bytes']}"
            )
        seconds: float = answer["seconds"]
        return seconds


def _result(
    name: str,
    samples: dict[str, list[float]],
    errors: dict[str, str],
    unit: str,
    better: str,
    convert: Callable[[float], float],
    details: dict[str, Any],
    description: str,
) -> Result:
    values = {side: [convert(v) for v in vs] for side, vs in samples.items()}
    details = {**details}
    if "ours" in errors or "aiortc" in errors:
        details["error"] = "; ".join(f"{s}: {errors[s]}" for s in ("ours", "aiortc") if s in errors)
    result = Result(
        name,
        math.nan if "ours" in errors else median(values["ours"]),
        math.nan if "aiortc" in errors else median(values["aiortc"]),
        unit,
        better,
        ours_samples=values["ours"],
        other_samples=values["aiortc"],
        details=details,
        description=description,
    )
    peer_values = {s: v for s, v in values.items() if s in native.PEERS}
    return native.attach(result, peer_values, {s: e for s, e in errors.items()})


async def _run(settings: Settings, names: set[str]) -> list[Result]:
    ours_pair = await open_ours()
    their_pair = await open_aiortc()
    peers: dict[str, PeerProcess] = {}
    peer_errors: dict[str, str] = {}
    for peer in native.available():
        process = PeerProcess(peer)
        answer = process.request(timeout=60, cmd="connect")
        if answer.get("ok"):
            peers[peer] = process
        else:
            peer_errors[peer] = answer.get("error", "could not connect")
            process.close(kill=True)
    sides = Sides(ours_pair, their_pair, peers)
    results = []
    try:
        rounds = settings.n_rounds(4, 1)
        # warm every path (first messages, SCTP windows opening)
        await ours_transfer(ours_pair, 16384, 64)
        await aiortc_transfer(their_pair, 16384, 64)
        for process in peers.values():
            process.request(cmd="transfer", size=16384, count=64)
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
            samples, errors = await sides.run(
                name,
                rounds,
                {
                    "ours": functools.partial(ours_transfer, ours_pair, size, count),
                    "aiortc": functools.partial(aiortc_transfer, their_pair, size, count),
                },
                {"cmd": "transfer", "name": name, "size": size, "count": count},
            )
            mb = size * count / 1e6
            results.append(
                _result(
                    name,
                    samples,
                    {**peer_errors, **errors},
                    "MB/s",
                    "higher",
                    lambda s, mb=mb: mb / s,
                    {
                        "message_size": size,
                        "bytes_per_round": size * count,
                        "messages_per_round": count,
                        "verified": sides.verified.get(name, []),
                    },
                    f"one-way throughput, {size}-byte messages, drain() backpressure",
                )
            )
        if "message_rate" in names:
            count = settings.pick(4_000, 1_000)
            samples, errors = await sides.run(
                "message_rate",
                rounds,
                {
                    "ours": lambda: ours_transfer(ours_pair, MESSAGE_RATE_SIZE, count),
                    "aiortc": lambda: aiortc_transfer(their_pair, MESSAGE_RATE_SIZE, count),
                },
                {
                    "cmd": "transfer",
                    "name": "message_rate",
                    "size": MESSAGE_RATE_SIZE,
                    "count": count,
                },
            )
            results.append(
                _result(
                    "message_rate",
                    samples,
                    {**peer_errors, **errors},
                    "msg/s",
                    "higher",
                    lambda s: count / s,
                    {
                        "message_size": MESSAGE_RATE_SIZE,
                        "messages_per_round": count,
                        "verified": sides.verified.get("message_rate", []),
                    },
                    f"{MESSAGE_RATE_SIZE}-byte messages per second, one way",
                )
            )
        if "rtt_32b" in names:
            count = settings.pick(200, 50)
            samples, errors = await sides.run(
                "rtt_32b",
                rounds,
                {
                    "ours": lambda: ours_rtt(ours_pair, count),
                    "aiortc": lambda: aiortc_rtt(their_pair, count),
                },
                {"cmd": "rtt", "count": count},
            )
            details: dict[str, Any] = {"pings_per_side": count * rounds}
            for side, values in samples.items():
                if values:
                    details[f"{side}_p90_ms"] = sorted(values)[int(0.9 * len(values))]
            results.append(
                _result(
                    "rtt_32b",
                    samples,
                    {**peer_errors, **errors},
                    "ms",
                    "lower",
                    lambda ms: ms,
                    details,
                    "ping-pong of a 32-byte message, echoed by a message handler",
                )
            )
    finally:
        for process in peers.values():
            process.close()
        await ours_pair.close()
        await their_pair.close()
    return results


def run(settings: Settings, names: set[str]) -> list[Result]:
    """Run the requested benchmarks of this family."""
    return asyncio.run(_run(settings, names))
