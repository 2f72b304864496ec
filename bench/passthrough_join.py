"""Join to first decoded frame for an RTSP camera passed through, against encoding it ourselves.

    scripts/in-netns.sh .venv/bin/python -m bench.passthrough_join [--trials 20] [--gop 30]

One RTSP camera stand-in (tests/media/rtsp_camera.py: 320x240 at 30 fps, H.264 constrained
baseline, a keyframe every ``--gop`` frames) runs for the whole measurement, kept streaming
by one steady client; each trial is a new viewer, after a random pause (up to one GOP) so
that joins fall at random points of the GOP: our PeerConnection with
``VideoSource.from_rtsp`` offers to a new aiortc peer (no trickle), which decodes. Per
trial: ms from ``add_track`` to aiortc's first decoded frame ("join"), and from our side
reaching ``connected`` to that frame ("after connected"). The same trials with
``VideoSource(codec="h264")`` (x264 in our pipeline, which a viewer's PLI can ask for a
keyframe) are the comparison, and so are viewers joining a running ``Broadcast``: of
our VP8 encode ("broadcast vp8", ``join_to_first_frame`` of issue 11: the shared encoder is
asked for a key unit on join and on connect) and of the camera passed through ("broadcast
rtsp": the first frame waits for the camera's next IDR). Not part of ``make bench``: a
measurement for docs/media.md ("Passthrough", "Broadcast").
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiogstwebrtc import PeerConnection
from aiogstwebrtc.media import Broadcast, MediaSource, VideoSource
from tests.aiortc_peer import aiortc_peer, we_offer

CAMERA = Path(__file__).resolve().parent.parent / "tests" / "media" / "rtsp_camera.py"


async def trial(source: MediaSource) -> tuple[float, float]:
    ours, theirs = PeerConnection(), aiortc_peer()
    tracks: asyncio.Queue[Any] = asyncio.Queue()
    theirs.on("track", tracks.put_nowait)
    connected = 0.0

    def on_state(*_: Any) -> None:
        nonlocal connected
        if ours.connection_state == "connected" and not connected:
            connected = time.monotonic()

    ours.on("connectionstatechange", on_state)
    try:
        start = time.monotonic()
        await ours.add_track(source)
        await we_offer(ours, theirs, trickle=False)
        track = await asyncio.wait_for(tracks.get(), 15)
        await asyncio.wait_for(track.recv(), 15)
        first = time.monotonic()
        return (first - start) * 1000, (first - (connected or first)) * 1000
    finally:
        await ours.close()
        await theirs.close()


def summary(name: str, samples: list[tuple[float, float]]) -> None:
    for label, values in (
        ("join", [s[0] for s in samples]),
        ("after connected", [s[1] for s in samples]),
    ):
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(
            f"{name:12} {label:16} median {statistics.median(ordered):6.0f} ms  "
            f"p95 {p95:6.0f} ms  min {ordered[0]:5.0f}  max {ordered[-1]:5.0f}  (n={len(ordered)})"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--gop", type=int, default=30)
    parser.add_argument(
        "--ignore-keyframe-requests",
        action="store_true",
        help="the camera ignores RTCP PLI/FIR (sends only its fixed GOP)",
    )
    args = parser.parse_args()
    options = ["--ignore-keyframe-requests"] if args.ignore_keyframe_requests else []
    camera = subprocess.Popen(
        [sys.executable, str(CAMERA), "--gop", str(args.gop), *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert camera.stdout is not None
        url = camera.stdout.readline().strip()
        # A camera's encoder runs all the time: one steady client keeps the stand-in's shared
        # media (and its GOP) going, so each viewer joins at a random point of the GOP.
        steady = PeerConnection()
        steady_source = VideoSource.from_rtsp(url)
        await steady.add_track(steady_source)
        await steady_source.wait_started(15)
        results: dict[str, list[tuple[float, float]]] = {
            "passthrough": [],
            "x264 (ours)": [],
            "broadcast vp8": [],
            "broadcast rtsp": [],
        }
        shared = Broadcast(video=VideoSource(width=320, height=240, framerate=30))
        shared_camera = Broadcast(video=VideoSource.from_rtsp(url))
        await shared.start()
        await shared_camera.start()
        assert shared.video is not None and shared_camera.video is not None
        pauses = random.Random(11)
        for _ in range(args.trials):  # alternating, so all see the same machine load
            await asyncio.sleep(pauses.uniform(0, args.gop / 30))
            results["passthrough"].append(await trial(VideoSource.from_rtsp(url)))
            encoded = VideoSource(codec="h264", width=320, height=240, framerate=30)
            results["x264 (ours)"].append(await trial(encoded))
            results["broadcast vp8"].append(await trial(shared.video))
            results["broadcast rtsp"].append(await trial(shared_camera.video))
        for name, samples in results.items():
            summary(name, samples)
        await shared.close()
        await shared_camera.close()
        await steady.close()
    finally:
        camera.terminate()
        camera.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
