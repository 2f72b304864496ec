"""``broadcast_cpu``: CPU seconds per second of a process serving one 720p30 VP8 stream to
1, 5 and 20 viewers: our :class:`~aiogstwebrtc.media.Broadcast` against aiortc's
``MediaRelay`` (which encodes once per viewer).

    scripts/in-netns.sh .venv/bin/python -m bench.broadcast_cpu [--viewers 1 5 20]
        [--warmup 3] [--window 10]

The producing side runs alone in a child process (``--serve ours|aiortc --count N``): it
makes N offers (non-trickle, sendonly video), takes N answers on stdin, waits until every
viewer is connected, lets it run ``--warmup`` s, then reports its own CPU time
(``getrusage``, all threads) over ``--window`` s. The viewers are our PeerConnections in
this process for both producers: they receive and depayload, and never decode (a
RemoteTrack decodes only for ``recv``/``connect``), so they cost the producer nothing.

Sources: ours ``videotestsrc is-live=true pattern=ball`` at 1280x720 30 fps, VP8 by our
``VideoSource`` (vp8enc deadline=1 cpu-used=8 threads=2, 1 Mbps CBR); aiortc the same
pattern, 60 frames rendered before the clock starts (bench/media.py) and replayed at 30 fps
through ``MediaRelay().subscribe()``, VP8 by aiortc's libvpx at its defaults. Drawing the
pattern live costs ours ~0.12 CPU s/s that aiortc does not pay (bench/media.py measured
it): the comparison is slightly unfair to us. Not part of ``make bench``: figures go to
docs/media.md ("Broadcast").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from .common import cpu_seconds, ensure_namespace

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT, FPS = 1280, 720, 30


# --- the producing process ------------------------------------------------------------------


def _source(kind: str, rtsp: str | None, kbps: int = 1000) -> Any:
    from aiogstwebrtc.media import VideoSource

    if kind == "rtsp":  # the camera's H.264 passed through
        assert rtsp is not None
        return VideoSource.from_rtsp(rtsp)
    if kind.startswith("transcode"):  # the same camera decoded and encoded again by our VideoSource
        return VideoSource(
            f'rtspsrc location="{rtsp}" latency=200 ! rtph264depay ! h264parse ! avdec_h264',
            codec="vp8" if kind == "transcode-vp8" else "h264",
            width=WIDTH,
            height=HEIGHT,
            framerate=FPS,
            bitrate=kbps * 1000,  # the camera's: the same bytes to each viewer as passthrough
        )
    return VideoSource(
        "videotestsrc is-live=true pattern=ball", width=WIDTH, height=HEIGHT, framerate=FPS
    )


async def _serve_ours(
    count: int,
    lines: asyncio.Queue[str],
    kind: str = "ours",
    rtsp: str | None = None,
    kbps: int = 1000,
) -> tuple[list[Any], Any]:
    from aiogstwebrtc import PeerConnection
    from aiogstwebrtc.media import Broadcast

    broadcast = None
    if kind != "transcode-each":  # that one: each viewer decodes and encodes on its own
        broadcast = Broadcast(video=_source(kind, rtsp, kbps))
        await broadcast.start()
        assert broadcast.video is not None
    peers = []
    for _ in range(count):
        pc = PeerConnection()
        peers.append(pc)
        if broadcast is not None and broadcast.video is not None:
            await pc.add_track(broadcast.video)
        else:
            await pc.add_track(_source("transcode", rtsp, kbps))
        await pc.set_local_description(await pc.create_offer())
        await pc.wait_for_ice_gathering_complete(10)
        local = pc.local_description
        assert local is not None
        _say({"offer": local.sdp})
        await pc.set_remote_description({"type": "answer", "sdp": await lines.get()})
    for pc in peers:
        await pc.wait_for_connection_state("connected", 30)
    return peers, broadcast


async def _serve_aiortc(count: int, lines: asyncio.Queue[str]) -> tuple[list[Any], Any]:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRelay

    from .media import pattern_track

    source, relay = pattern_track(), MediaRelay()
    peers = []
    for _ in range(count):
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        peers.append(pc)
        pc.addTransceiver(relay.subscribe(source), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        _say({"offer": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=await lines.get(), type="answer"))
    deadline = time.monotonic() + 30
    while any(pc.connectionState != "connected" for pc in peers):
        if time.monotonic() > deadline:
            raise TimeoutError("aiortc viewers did not connect")
        await asyncio.sleep(0.1)
    return peers, None


def _say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def serve(
    kind: str, count: int, warmup: float, window: float, rtsp: str | None, kbps: int
) -> None:
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, json.loads(line)["answer"])

    loop.run_in_executor(None, read_stdin)
    if kind == "aiortc":
        peers, broadcast = await _serve_aiortc(count, lines)
    else:
        peers, broadcast = await _serve_ours(count, lines, kind, rtsp, kbps)
    await asyncio.sleep(warmup)
    start_cpu, start = cpu_seconds(), time.monotonic()
    await asyncio.sleep(window)
    cpu = (cpu_seconds() - start_cpu) / (time.monotonic() - start)
    result: dict[str, Any] = {"cpu_per_s": cpu}
    if broadcast is not None:
        stats = broadcast.stats()
        result["viewers_with_bytes"] = sum(1 for n in stats["bytes_out"].values() if n > 0)
        result["encoders"] = len(broadcast.encoders())
    else:
        result["viewers_with_bytes"] = sum(
            1
            for pc in peers
            if getattr(pc, "connectionState", getattr(pc, "connection_state", "")) == "connected"
        )
        result["encoders"] = len(peers) if kind == "transcode-each" else 0
    for pc in peers:
        await pc.close()
    if broadcast is not None:
        await broadcast.close()
    _say({"result": result})


# --- the viewers (this process) -------------------------------------------------------------


async def measure(
    kind: str, count: int, warmup: float, window: float, rtsp: str | None = None, kbps: int = 1000
) -> dict[str, Any]:
    from aiogstwebrtc import PeerConnection

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.broadcast_cpu",
        "--serve",
        kind,
        "--count",
        str(count),
        "--warmup",
        str(warmup),
        "--window",
        str(window),
        *(["--rtsp", rtsp] if rtsp else []),
        "--kbps",
        str(kbps),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    viewers: list[PeerConnection] = []
    try:
        while True:
            line = await asyncio.wait_for(child.stdout.readline(), warmup + window + 120)
            if not line:
                raise RuntimeError(f"the {kind} producer exited early")
            message = json.loads(line)
            if "result" in message:
                result: dict[str, Any] = message["result"]
                return result
            pc = PeerConnection()
            viewers.append(pc)
            answer = await pc.handle_offer({"type": "offer", "sdp": message["offer"]})
            await pc.wait_for_ice_gathering_complete(10)
            local = pc.local_description or answer
            child.stdin.write((json.dumps({"answer": local.sdp}) + "\n").encode())
            await child.stdin.drain()
    finally:
        for pc in viewers:
            await pc.close()
        if child.returncode is None:
            child.stdin.close()
            await child.wait()


async def main(counts: list[int], warmup: float, window: float) -> None:
    rows = []
    for count in counts:
        ours = await measure("ours", count, warmup, window)
        theirs = await measure("aiortc", count, warmup, window)
        rows.append((count, ours, theirs))
        print(
            f"{count:>3} viewers: ours {ours['cpu_per_s']:.3f} CPU s/s "
            f"({ours['viewers_with_bytes']} receiving, {ours['encoders']} encoder), "
            f"aiortc MediaRelay {theirs['cpu_per_s']:.3f} CPU s/s "
            f"({theirs['viewers_with_bytes']} connected); ours/aiortc "
            f"{ours['cpu_per_s'] / theirs['cpu_per_s']:.2f}",
            flush=True,
        )
    first = rows[0]
    for count, ours, theirs in rows[1:]:
        print(
            f"{count} viewers / {first[0]}: ours {ours['cpu_per_s'] / first[1]['cpu_per_s']:.2f}x,"
            f" aiortc {theirs['cpu_per_s'] / first[2]['cpu_per_s']:.2f}x"
        )


async def passthrough(count: int, warmup: float, window: float, kbps: int) -> None:
    """``passthrough_cpu``: a 720p30 H.264 RTSP camera to ``count`` viewers, passed through
    against decoded and encoded again (both once, in a Broadcast) to H.264 and to VP8, each
    at the camera's bitrate."""
    import subprocess

    camera = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "media" / "rtsp_camera.py"),
            "--width",
            str(WIDTH),
            "--height",
            str(HEIGHT),
            "--kbps",
            str(kbps),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert camera.stdout is not None
        url = camera.stdout.readline().strip()
        passed = await measure("rtsp", count, warmup, window, url, kbps)
        print(
            f"{count} viewers of a 720p30 H.264 camera at {kbps} kbit/s: passthrough "
            f"{passed['cpu_per_s']:.3f} CPU s/s ({passed['encoders']} encoders)",
            flush=True,
        )
        for kind, what in (
            ("transcode", "decode + encode once to H.264"),
            ("transcode-vp8", "decode + encode once to VP8"),
            ("transcode-each", "decode + encode to H.264 per viewer"),
        ):
            transcoded = await measure(kind, count, warmup, window, url, kbps)
            print(
                f"  {what}: {transcoded['cpu_per_s']:.3f} CPU s/s; "
                f"passthrough/transcoding {passed['cpu_per_s'] / transcoded['cpu_per_s']:.2f}",
                flush=True,
            )
    finally:
        camera.terminate()
        camera.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument(
        "--passthrough",
        action="store_true",
        help="passthrough_cpu instead: an RTSP camera to 5 viewers, passed through or transcoded",
    )
    parser.add_argument(
        "--camera-kbps",
        type=int,
        default=2000,
        help="--passthrough: the camera's H.264 bitrate (a 720p30 IP camera: 2000-4000)",
    )
    parser.add_argument(
        "--serve",
        choices=["ours", "aiortc", "rtsp", "transcode", "transcode-vp8", "transcode-each"],
    )
    parser.add_argument("--kbps", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--rtsp", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.count, args.warmup, args.window, args.rtsp, args.kbps))
    elif args.passthrough:
        ensure_namespace(sys.argv[1:], "bench.broadcast_cpu")
        asyncio.run(passthrough(5, args.warmup, args.window, args.camera_kbps))
    else:
        ensure_namespace(sys.argv[1:], "bench.broadcast_cpu")
        asyncio.run(main(args.viewers, args.warmup, args.window))
