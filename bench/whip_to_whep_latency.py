"""``whip_to_whep_latency``: ms from a frame pushed into a WHIP publisher to the same frame
decoded by a WHEP player, through our server's ingest and relay, against the same frames
sent straight from one peer connection to another (the floor) in the same run.

    scripts/in-netns.sh .venv/bin/python -m bench.whip_to_whep_latency [--seconds 10]
        [--width 640 --height 360]

One process, one clock: a :meth:`VideoSource.from_frames` source gets a frame every 1/30 s
whose 16 vertical stripes write its number in binary (black/white survives VP8 at any
bitrate); the player reads the number back from each decoded frame and looks up when it
was pushed. Path "whip→whep": ``WhipClient`` → ``WhipEndpoint`` (relay, no transcoding) →
``WhepEndpoint`` → ``WhepClient``, all on loopback in the namespace. Path "direct": our
PeerConnection sending to our PeerConnection. Both encode once (VP8, our defaults) and
decode once, so the difference is what the relay hop costs. Reports median, p95 and max
of the frames of the last ``--seconds`` (the first second, the jitter buffers settling, is
skipped). Not part of ``make bench``: figures go to docs/whip-whep.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.media import RemoteTrack, VideoSource
from aiogstwebrtc.media.sources import FrameSource

from .common import ensure_namespace

BITS = 16
FPS = 30


def stripes(number: int, width: int, height: int) -> Any:
    """A frame whose ``BITS`` vertical stripes are ``number`` in binary (white = 1)."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    step = width // BITS
    for bit in range(BITS):
        if number >> bit & 1:
            frame[:, bit * step : (bit + 1) * step] = 255
    return frame


def read_stripes(data: Any) -> int:
    """The number a decoded frame carries (each stripe's middle, thresholded)."""
    height, width = data.shape[0], data.shape[1]
    step = width // BITS
    row = data[height // 2]
    number = 0
    for bit in range(BITS):
        if int(row[bit * step + step // 2].mean()) > 127:
            number |= 1 << bit
    return number


async def measure(
    source: FrameSource,
    track: RemoteTrack,
    seconds: float,
    width: int,
    height: int,
) -> list[float]:
    """Push numbered frames at 30 fps for ``seconds`` + 1 s; latencies in ms (first second
    skipped)."""
    pushed: dict[int, float] = {}
    latencies: list[tuple[float, float]] = []  # (pushed at, ms)
    stop = asyncio.Event()

    async def push() -> None:
        number = 1
        start = time.monotonic()
        while not stop.is_set():
            pushed[number] = time.monotonic()
            source.push(stripes(number, width, height))
            number = number + 1 if number < (1 << BITS) - 1 else 1
            await asyncio.sleep(max(0.0, start + number / FPS - time.monotonic()))

    async def receive() -> None:
        while not stop.is_set():
            frame = await track.recv()
            now = time.monotonic()
            sent = pushed.get(read_stripes(frame.data))
            if sent is not None:
                latencies.append((sent, (now - sent) * 1000))

    tasks = [asyncio.create_task(push()), asyncio.create_task(receive())]
    began = time.monotonic()
    await asyncio.sleep(seconds + 1)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return [ms for at, ms in latencies if at > began + 1]


async def direct(seconds: float, width: int, height: int) -> list[float]:
    sender, receiver = PeerConnection(), PeerConnection()
    source = VideoSource.from_frames(width, height, FPS)
    tracks: asyncio.Queue[RemoteTrack] = asyncio.Queue()
    receiver.on("track", tracks.put_nowait)
    try:
        await sender.add_track(source)
        await sender.set_local_description(await sender.create_offer())
        await sender.wait_for_ice_gathering_complete(10)
        assert sender.local_description is not None
        answer = await receiver.handle_offer(sender.local_description)
        await receiver.wait_for_ice_gathering_complete(10)
        await sender.set_remote_description(receiver.local_description or answer)
        pusher = asyncio.create_task(_keep_pushing(source, width, height))
        try:
            track = await asyncio.wait_for(tracks.get(), 15)
        finally:
            pusher.cancel()
        return await measure(source, track, seconds, width, height)
    finally:
        await sender.close()
        await receiver.close()


async def _keep_pushing(source: FrameSource, width: int, height: int) -> None:
    """Frames until the player's track appears (a track appears with its first packets)."""
    while True:
        source.push(stripes(0, width, height))
        await asyncio.sleep(1 / FPS)


async def relayed(seconds: float, width: int, height: int) -> list[float]:
    from aiogstwebrtc.signalling import SignallingServer
    from aiogstwebrtc.whep import WhepClient, WhepEndpoint, WhepError, WhipClient, WhipEndpoint

    server = SignallingServer(port=0)
    whep = WhepEndpoint()
    whip = WhipEndpoint(whep, token="bench")
    whep.install(server.app)
    whip.install(server.app)
    source = VideoSource.from_frames(width, height, FPS)
    try:
        async with server:
            base = f"http://127.0.0.1:{server.port}"
            async with WhipClient(f"{base}/whip/live", token="bench") as publisher:
                await publisher.publish(source)
                pusher = asyncio.create_task(_keep_pushing(source, width, height))
                try:
                    player = await _play_when_there(
                        lambda: WhepClient(f"{base}/whep/live"), WhepError
                    )
                finally:
                    pusher.cancel()
                try:
                    video = next(t for t in player[1] if t.kind == "video")
                    return await measure(source, video, seconds, width, height)
                finally:
                    await player[0].close()
    finally:
        await whep.close()
        await whip.close()


async def _play_when_there(
    make: Callable[[], Any], error: type[Exception]
) -> tuple[Any, list[RemoteTrack]]:
    """Play as soon as the stream exists (404 until the publisher's media flows)."""
    for _ in range(100):
        client = make()
        try:
            return client, await client.play(("video",))
        except error as exc:
            await client.close()
            if getattr(exc, "status", None) != 404:
                raise
            await asyncio.sleep(0.1)
    raise TimeoutError("the WHIP stream never appeared over WHEP")


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no frame came back"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"{name}: median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
        f"max {ordered[-1]:.1f} ms ({len(ordered)} frames)"
    )


async def main(seconds: float, width: int, height: int) -> None:
    runs: list[tuple[str, Callable[[float, int, int], Awaitable[list[float]]]]] = [
        ("direct", direct),
        ("whip->whep", relayed),
    ]
    results = {}
    for name, run in runs:
        results[name] = await run(seconds, width, height)
        print(summary(name, results[name]), flush=True)
    if results["direct"] and results["whip->whep"]:
        extra = statistics.median(results["whip->whep"]) - statistics.median(results["direct"])
        print(f"the relay hop adds {extra:.1f} ms (medians)", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    args = parser.parse_args()
    ensure_namespace(sys.argv[1:], "bench.whip_to_whep_latency")
    asyncio.run(main(args.seconds, args.width, args.height))
